package sim

import (
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/tomlcheck"
)

// loadShipped loads every configs/scenarios/*.toml, which must have no
// problem at all, not even a warning.
func loadShipped(t *testing.T) map[string]*Scenario {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "configs", "scenarios", "*.toml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	out := map[string]*Scenario{}
	for _, f := range files {
		var ps tomlcheck.Problems
		sc := Load(f, &ps)
		if sc == nil || len(ps.List) > 0 {
			t.Errorf("%s:\n%v", f, (&tomlcheck.Error{List: ps.List}).Error())
			continue
		}
		if want := filepath.Base(f); sc.Name+".toml" != want {
			t.Errorf("%s: name %q does not match the file name", f, sc.Name)
		}
		if sc.Description == "" || sc.Duration == 0 {
			t.Errorf("%s: description and duration should be given", f)
		}
		out[sc.Name] = sc
	}
	return out
}

// course samples a scenario every 5 s.
func course(sc *Scenario) []State {
	var out []State
	for t := time.Duration(0); t <= sc.End(); t += 5 * time.Second {
		out = append(out, sc.At(t))
	}
	return out
}

func TestShippedScenarios(t *testing.T) {
	all := loadShipped(t)
	var names []string
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{"calm", "cuff-fails", "desaturation", "hypertensive", "probe-off", "unplug"}
	if len(names) != len(want) {
		t.Fatalf("scenarios %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("scenarios %v, want %v", names, want)
		}
	}

	t.Run("calm", func(t *testing.T) {
		sc := all["calm"]
		if sc.Duration != 100*time.Minute {
			t.Errorf("duration %v", sc.Duration)
		}
		for _, s := range course(sc) {
			m := s.Measurement()
			if s.SpO2 < 94 || s.Pulse < 55 || s.Pulse > 100 || m.Systolic >= 150 || m.Diastolic >= 95 || s.ProbeOff || s.NIBPSilent {
				t.Fatalf("not calm at %v: %+v", s.T, s)
			}
		}
		if len(sc.Events()) != 0 {
			t.Errorf("events %v", sc.Events())
		}
	})
	t.Run("desaturation", func(t *testing.T) {
		below88 := time.Duration(0)
		for _, s := range course(all["desaturation"]) {
			if s.SpO2 < 88 {
				below88 += 5 * time.Second
			}
		}
		if below88 < 2*time.Minute {
			t.Errorf("SpO2 below 88 for %v only", below88)
		}
		if end := all["desaturation"].At(time.Hour); end.SpO2 < 96 {
			t.Errorf("no recovery: %+v", end)
		}
	})
	t.Run("hypertensive", func(t *testing.T) {
		var peak State
		for _, s := range course(all["hypertensive"]) {
			if s.BP.Systolic > peak.BP.Systolic {
				peak = s
			}
		}
		m := peak.Measurement()
		if peak.T < 35*time.Minute || peak.T > 45*time.Minute || m.Systolic < 180 || m.Diastolic < 110 {
			t.Errorf("peak %+v at %v", m, peak.T)
		}
		base := all["hypertensive"].At(0).Measurement()
		if base.Systolic >= 140 || base.Diastolic >= 90 || m.Systolic-base.Systolic < 40 {
			t.Errorf("baseline %+v, peak %+v", base, m)
		}
	})
	t.Run("probe-off", func(t *testing.T) {
		var off, longest time.Duration
		for _, s := range course(all["probe-off"]) {
			if s.ProbeOff {
				off += 5 * time.Second
				longest = max(longest, off)
			} else {
				off = 0
			}
		}
		if longest < time.Minute {
			t.Errorf("probe off for %v at most", longest)
		}
	})
	t.Run("cuff-fails", func(t *testing.T) {
		evs := all["cuff-fails"].Events()
		inARow := false
		for i := 1; i < len(evs); i++ {
			if evs[i].Kind == NIBPError && evs[i-1].Kind == NIBPError && evs[i].At == evs[i-1].At {
				inARow = true
			}
		}
		if len(evs) < 3 || !inARow {
			t.Errorf("events %v", evs)
		}
	})
	t.Run("unplug", func(t *testing.T) {
		seen := map[EventKind]map[Device]bool{}
		for _, e := range all["unplug"].Events() {
			if seen[e.Kind] == nil {
				seen[e.Kind] = map[Device]bool{}
			}
			seen[e.Kind][e.Device] = true
		}
		for _, k := range []EventKind{Unplug, Replug, Garbage} {
			for _, d := range Devices() {
				if !seen[k][d] {
					t.Errorf("no %v event for %v", k, d)
				}
			}
		}
		for _, d := range Devices() {
			if !all["unplug"].At(time.Hour).Plugged(d) {
				t.Errorf("%v left unplugged", d)
			}
		}
	})
}
