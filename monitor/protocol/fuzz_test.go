package protocol

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chairside/chairside/monitor/tomlcheck"
)

// FuzzParse: any text gives a protocol or problems, never a panic; a protocol
// accepted without errors has coherent limits in every phase.
func FuzzParse(f *testing.F) {
	shipped, err := os.ReadFile(filepath.Join("..", "..", "configs", "ketamine-iv.toml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(shipped))
	f.Add("name = \"p\"\n[[limit]]\ncondition = \"pulse_high\"\npriority = \"high\"\nabove = 140\n")
	f.Add("name = \"p\"\n[phase.infusion]\nduration = \"40m\"\n[[phase.infusion.limit]]\ncondition = \"spo2_low\"\npriority = \"low\"\nat_most = 90\n")
	f.Fuzz(func(t *testing.T, text string) {
		var ps tomlcheck.Problems
		p := Parse("f.toml", text, &ps)
		if ps.Errors() > 0 || p == nil {
			return
		}
		for _, ph := range []Phase{Baseline, Infusion, Observation} {
			if c := Contradictions(p.LimitsFor(ph, nil)); len(c) > 0 {
				t.Fatalf("accepted contradictory limits: %v", c)
			}
			for _, l := range p.LimitsFor(ph, nil) {
				if err := l.Check(); err != nil {
					t.Fatalf("accepted a bad limit %v: %v", l, err)
				}
			}
		}
		if p.Alarm.AudioPause > MaxAudioPause || p.Alarm.AudioPause <= 0 {
			t.Fatalf("accepted audio_pause %v", p.Alarm.AudioPause)
		}
	})
}
