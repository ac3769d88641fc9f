package monitor

import (
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
)

// Live shows the session, the alarms, each reading with its time and each
// sensor's last data; a reading without a usable value shows no number.
func TestLiveFollowsTheEngine(t *testing.T) {
	r := newRig(t)
	l := r.e.Live()
	if l.Session != "" || l.Phase != "idle" || len(l.Alarms.Alarms) != 0 {
		t.Fatalf("fresh engine: %+v", l)
	}
	for _, rd := range l.Readings {
		if rd.Value.Valid || !rd.At.IsZero() {
			t.Fatalf("a reading before any came: %+v", rd)
		}
	}
	if len(l.Sensors) != 2 || !l.Sensors[0].LastData.IsZero() || l.Sensors[0].Source != "nonin" || !l.Sensors[1].NIBP {
		t.Fatalf("sensors: %+v", l.Sensors)
	}

	r.spo2, r.pulse = 97, 72
	r.run(2 * time.Minute) // auto-start, baseline
	l = r.e.Live()
	if l.Session == "" || l.Session != r.e.SessionID() || l.Phase != r.e.Phase().String() || l.Started.IsZero() {
		t.Fatalf("session: %q %q started %v (engine %q %v)", l.Session, l.Phase, l.Started, r.e.SessionID(), r.e.Phase())
	}
	if !l.At.Equal(r.now) {
		t.Fatalf("At = %v, want the engine's now %v", l.At, r.now)
	}
	spo2 := l.Readings[vitals.SpO2]
	if spo2.Param != "spo2" || !spo2.Value.Valid || spo2.Value.V != 97 || r.now.Sub(spo2.At) > time.Second {
		t.Fatalf("spo2: %+v at %v", spo2, r.now)
	}
	if l.Sensors[0].LastData.IsZero() || l.Sensors[0].Frames == 0 {
		t.Fatalf("oximeter: %+v", l.Sensors[0])
	}

	// Desaturation: the alarm is in Live; a value held by probe-off flags is not.
	r.spo2 = 80
	r.run(30 * time.Second)
	l = r.e.Live()
	if len(l.Alarms.Alarms) == 0 {
		t.Fatal("no alarm in Live after 30 s at SpO2 80")
	}
	found := false
	for _, a := range l.Alarms.Alarms {
		found = found || a.Condition == "spo2_low" && a.Priority == "high"
	}
	if !found {
		t.Fatalf("alarms: %+v", l.Alarms.Alarms)
	}
	r.flags = vitals.ProbeOff
	r.run(2 * time.Second)
	l = r.e.Live()
	spo2 = l.Readings[vitals.SpO2]
	if spo2.Value.Valid || spo2.At.IsZero() || len(spo2.Flags) == 0 || spo2.Flags[0] != "probe_off" {
		t.Fatalf("a probe-off reading shows %+v: no number, its flags and its time", spo2)
	}

	// A copy: the engine moving on does not change a Live taken before.
	before := l.Alarms.Alarms[0]
	r.flags, r.spo2 = 0, 98
	r.cmd("ack")
	r.run(time.Minute)
	if l.Alarms.Alarms[0] != before || !l.Readings[vitals.SpO2].At.Equal(spo2.At) {
		t.Fatal("Live shares memory with the engine")
	}
}

// BenchmarkLive is the cost of one Live in a session with an alarm: the
// daemon takes one at most every 250 ms, and after each alarm change.
func BenchmarkLive(b *testing.B) {
	r := newRig(b)
	r.spo2, r.pulse = 80, 72
	r.run(2 * time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		_ = r.e.Live()
	}
}
