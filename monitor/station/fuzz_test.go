package station

import (
	"testing"
	"time"
)

// FuzzHandle feeds any payload on any topic suffix to the model: it never
// panics, and a refused message makes no chair.
func FuzzHandle(f *testing.F) {
	for _, s := range []struct{ suffix, payload string }{
		{"state", stateMsg(true, "idle")}, {"state", willMsg}, {"vitals/spo2", spo2Msg(1, 0, "97")},
		{"session", sessionMsg(2, "infusion")}, {"alarms", `{"v":1,"t":"2026-12-05T08:00:00Z","alarms":[]}`},
		{"gap", `{"v":1,"stream":"a","seq":9,"t":"2026-12-05T08:00:00Z","from_seq":1,"to_seq":3}`},
		{"cmd/reply", `{"v":1,"id":"r1","ok":true}`},
	} {
		f.Add(s.suffix, []byte(s.payload), false)
	}
	f.Fuzz(func(t *testing.T, suffix string, payload []byte, retained bool) {
		m := NewModel(Config{Prefix: "chairside", OfflineAfter: 25 * time.Second})
		_, err := m.Handle("chairside/chair-01/"+suffix, payload, retained, t0)
		if err != nil && len(m.Chairs()) != 0 {
			t.Fatalf("refused (%v) but made a chair", err)
		}
		m.Tick(t0.Add(time.Hour))
		for _, c := range m.Chairs() {
			if _, err := MarshalChair(c); err != nil {
				t.Fatal(err)
			}
		}
	})
}
