package delivery

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/alarmlog"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/wire"
)

// hungLog is an alarm log file on a disk that stops answering.
type hungLog struct {
	gate    chan struct{}
	mu      sync.Mutex
	entered int
}

func (h *hungLog) Open() (bool, error) { h.enter(); return false, nil }
func (h *hungLog) Append(...alarmlog.Entry) error {
	h.enter()
	return nil
}
func (h *hungLog) Close() error { return nil }
func (h *hungLog) enter() {
	h.mu.Lock()
	h.entered++
	h.mu.Unlock()
	<-h.gate
}

func readLog(t *testing.T, dir string) []alarmlog.Entry {
	t.Helper()
	var out []alarmlog.Entry
	if err := alarmlog.Read(dir, func(e alarmlog.Entry) error { out = append(out, e); return nil }, func(le *alarmlog.LineError) { t.Error(le) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// Every alarm change reaches the alarm log file, with its audio state, even
// when the store (bbolt) could not be opened; commands are there too.
func TestAlarmChangesReachTheAlarmLog(t *testing.T) {
	dir := t.TempDir()
	p := startPipeline(t, nil, time.Hour, alarmlog.New(dir, 0))
	p.command("c-1", wire.ActionSessionStart)
	p.in <- monitor.ExternalCondition{Condition: monitor.AnnunciatorFault, Present: true, Message: "annunciator: test"}
	eventually(t, "the alarm published", func() bool { return p.published(`"condition":"annunciator_fault"`, `"phase":"start"`) })
	p.in <- monitor.ExternalCondition{Condition: monitor.AnnunciatorFault, Present: false}
	eventually(t, "the alarm ended", func() bool { return p.published(`"condition":"annunciator_fault"`, `"phase":"end"`) })
	var phases []string
	audit := false
	eventually(t, "the start and the end in the alarm log", func() bool {
		phases, audit = nil, false
		for _, e := range readLog(t, dir) {
			if e.Alarm != nil && e.Condition == "annunciator_fault" {
				if e.Audio == "" || e.ID == "" || e.T.IsZero() {
					t.Fatalf("alarm entry lacks fields: %+v", e.Alarm)
				}
				phases = append(phases, e.Phase)
			}
			audit = audit || (e.Audit != nil && e.Action == wire.ActionSessionStart && e.OK)
		}
		return len(phases) >= 2 && phases[len(phases)-1] == wire.PhaseEnd && audit
	})
	if phases[0] != wire.PhaseStart {
		t.Errorf("phases %v", phases)
	}
}

// An alarm log whose disk hangs stops no alarm: the alarm is published and
// annunciated, and store_fault says the log is not being written.
func TestHungAlarmLogNeverStopsAlarms(t *testing.T) {
	h := &hungLog{gate: make(chan struct{})}
	defer close(h.gate)
	p := startPipeline(t, nil, 50*time.Millisecond, h)
	p.command("c-1", wire.ActionSessionStart)
	p.in <- monitor.ExternalCondition{Condition: monitor.AnnunciatorFault, Present: true, Message: "annunciator: test"}
	eventually(t, "the alarm published", func() bool { return p.published(`"condition":"annunciator_fault"`, `"phase":"start"`) })
	eventually(t, "the alarms annunciated", func() bool { return p.ann.count() > 0 })
	eventually(t, "store_fault raised", func() bool {
		select {
		case f := <-p.faults:
			return strings.Contains(f, "hangs")
		default:
			return false
		}
	})
	eventually(t, "the store_fault alarm published", func() bool { return p.published(`"condition":"store_fault"`) })
}

// A store an older version wrote keeps its actions in the audit bucket: the
// first start copies them into the new alarm log file, once.
func TestLegacyAuditCopiedOnce(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{Root: "t/c"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	if err := st.LogAudit(store.Entry{T: at, By: "nurse@station", Action: "infusion_start", OK: true, Detail: "old"}); err != nil {
		t.Fatal(err)
	}
	fault := func(err error) { t.Error(err) }
	for range 2 { // a second start finds the file and copies nothing
		w := alarmlog.New(dir, 0)
		d := New(Config{AlarmLog: w, Legacy: LegacyEntries(st), Fault: fault})
		d.openAlarmLog(fault)
		w.Close()
	}
	got := readLog(t, dir)
	if len(got) != 1 || got[0].Audit == nil || got[0].Action != "infusion_start" || !got[0].T.Equal(at) {
		t.Fatalf("alarm log after two starts: %+v", got)
	}
}
