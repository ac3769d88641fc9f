package store

import (
	"testing"

	"github.com/chairside/chairside/monitor/wire"
)

// TestDefaultMaxBytesHoldsSevenDays measures the stored size of the daemon's
// records (realistic worst-case fields, seqs in the tens of millions) and
// checks that DefaultMaxBytes holds 7 days of one chair: 2 vitals a second,
// an NIBP every 5 minutes, and a generous number of alarms and session records.
func TestDefaultMaxBytesHoldsSevenDays(t *testing.T) {
	s := openT(t, t.TempDir(), quiet())
	defer closeT(t, s)
	s.writeMu.Lock()
	s.last = 12_345_678 // a chair years old
	s.writeMu.Unlock()
	size := func(topic string, p wire.Stamped) int64 {
		r := commitT(t, s, topic, p, true)
		return int64(8 + recordHeader + len(r.Topic) + len(r.Payload))
	}
	v := vital(100)
	v.Flags = []string{"low_perfusion", "artifact"}
	vitalSize := size(root+"/vitals/spo2", v)
	nibp := &wire.NIBP{T: v.T, Session: v.Session, Param: "nibp", Systolic: wire.N(188), Diastolic: wire.N(110),
		Mean: wire.N(136), Pulse: wire.N(101), Unit: "mm[Hg]", Source: "suntech", Request: "n-123-4567", Flags: []string{}}
	nibpSize := size(root+"/vitals/nibp", nibp)
	alarmSize := size(root+"/alarm", alarm("a-123-4567"))
	perDay := 2*86400*vitalSize + 288*nibpSize + 200*alarmSize // 200 alarm changes and session records a day
	week := 7 * perDay
	t.Logf("stored bytes: vital %d, NIBP %d, alarm %d; per day %.1f MB; 7 days %.1f MB; DefaultMaxBytes %.1f MB = %.1f days",
		vitalSize, nibpSize, alarmSize, float64(perDay)/1e6, float64(week)/1e6, float64(DefaultMaxBytes)/1e6,
		float64(DefaultMaxBytes)/float64(perDay))
	if week > DefaultMaxBytes {
		t.Errorf("DefaultMaxBytes %d holds less than 7 days (%d)", DefaultMaxBytes, week)
	}
}
