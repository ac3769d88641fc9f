package sim_test

import (
	"fmt"
	"time"

	"github.com/chairside/chairside/drivers/sim"
	"github.com/chairside/chairside/monitor/tomlcheck"
)

// A scenario is evaluated at whatever time the caller gives: a ramp is
// interpolated, the one-shot events come out of a Cursor once each.
func Example() {
	var ps tomlcheck.Problems
	sc := sim.Parse("desat.toml", `
name = "desat"
[start]
spo2 = 97
pulse = 72
bp = { systolic = 124, diastolic = 80 }

[[at]]
t = "10m"
spo2 = { to = 85, over = "4m" }
nibp_error = 0x57
`, &ps)
	if sc == nil {
		fmt.Println(ps.Err())
		return
	}
	cur := sc.Cursor()
	for _, t := range []time.Duration{0, 10 * time.Minute, 12 * time.Minute, time.Hour} {
		for _, e := range cur.Advance(t) {
			fmt.Printf("%v: %s does %s\n", t, e.Key(), e.Summary)
		}
		s := sc.At(t)
		spo2, _ := s.Readings(0)
		fmt.Printf("%v: SpO2 %d, NIBP %+v\n", t, spo2.Value, s.Measurement())
	}
	// Output:
	// 0s: SpO2 97, NIBP {Systolic:124 Diastolic:80 Mean:95 Pulse:72}
	// 10m0s: at[1] does spo2 to 85 over 4m0s; nibp_error 0x57
	// 10m0s: SpO2 97, NIBP {Systolic:124 Diastolic:80 Mean:95 Pulse:72}
	// 12m0s: SpO2 91, NIBP {Systolic:124 Diastolic:80 Mean:95 Pulse:72}
	// 1h0m0s: SpO2 85, NIBP {Systolic:124 Diastolic:80 Mean:95 Pulse:72}
}

// Every problem of a bad file at once, each naming the file and the key.
func ExampleParse_problems() {
	var ps tomlcheck.Problems
	sim.Parse("bad.toml", `
name = "bad"
[start]
spo2 = 97
pulse = 300
bp = { systolic = 120, diastolic = 80 }
[[at]]
t = "5m"
spo2 = { to = 85, over = "2 minutes" }
[[at]]
t = "2m"
probe = "out"
`, &ps)
	fmt.Println(ps.Err())
	// Output:
	// bad.toml: start.pulse: 300 is outside 20..250 /min
	// bad.toml: at[1].spo2.over: "2 minutes" is not a duration (write e.g. "90s", "5m", "1h30m")
	// bad.toml: at[2].t: 2m0s is before the previous entry's 5m0s: entries must be in time order
	// bad.toml: at[2].probe: "out" is not one of ["on" "off"]
}
