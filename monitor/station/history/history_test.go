package history

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/station"
	"github.com/chairside/chairside/monitor/wire"
)

var t0 = time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)

func alarmEffect(seq uint64, at time.Duration, state string) station.Effect {
	a := wire.Alarm{Record: wire.Record{V: 1, Stream: "st1", Seq: seq}, T: wire.At(t0.Add(at)), ID: "a-1-1",
		Condition: "spo2_low", Kind: "physiological", Priority: "high", Phase: "start", State: state, Message: "SpO2 86 < 88"}
	raw, _ := json.Marshal(a)
	return station.Effect{Chair: "chair-01", Alarm: &a, AlarmRaw: raw}
}

func open(t *testing.T, path string, now *time.Time) *History {
	t.Helper()
	h, err := Open(path, Options{Keep: 72 * time.Hour, Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// What was stored is there after a restart: trends (null values as null),
// NIBP and every alarm message, oldest first; a redelivered alarm record is
// kept once.
func TestRestartKeepsTrendsAndAlarms(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	now := t0.Add(time.Hour)
	h := open(t, path, &now)
	ctx, cancel := context.WithCancel(context.Background())
	go h.Run(ctx)
	for i := range 120 {
		v := wire.N(float64(90 + i%10))
		if i == 7 {
			v = wire.Num{} // probe off
		}
		h.Add(station.Effect{Chair: "chair-01", Trend: &station.TrendPoint{Param: "spo2", T: t0.Add(time.Duration(i) * time.Second), Value: v}})
		h.Add(station.Effect{Chair: "chair-01", Trend: &station.TrendPoint{Param: "pulse", T: t0.Add(time.Duration(i) * time.Second), Value: wire.N(70)}})
	}
	h.Add(station.Effect{Chair: "chair-01", NIBP: &wire.NIBP{T: wire.At(t0.Add(time.Minute)), Systolic: wire.N(128), Diastolic: wire.N(82), Mean: wire.N(97)}})
	h.Add(station.Effect{Chair: "chair-01", NIBP: &wire.NIBP{T: wire.At(t0.Add(2 * time.Minute)), Error: "cuff leak"}})
	h.Add(alarmEffect(5, 10*time.Second, "active"))
	h.Add(alarmEffect(9, 20*time.Second, "acknowledged"))
	h.Add(alarmEffect(5, 10*time.Second, "active")) // redelivered
	cancel()
	<-h.Done()

	h = open(t, path, &now)
	defer h.Close()
	tr, err := h.Trend("chair-01", t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.SpO2) != 120 || len(tr.Pulse) != 120 || len(tr.NIBP) != 2 {
		t.Fatalf("after restart: %d spo2, %d pulse, %d nibp; want 120, 120, 2", len(tr.SpO2), len(tr.Pulse), len(tr.NIBP))
	}
	b, _ := json.Marshal(tr)
	for _, want := range []string{`["2026-12-05T08:00:07.000Z",null]`, `["2026-12-05T08:00:08.000Z",98]`,
		`["2026-12-05T08:01:00.000Z",128,82,97]`, `["2026-12-05T08:02:00.000Z",null,null,null]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("trend lacks %s", want)
		}
	}
	alarms, err := h.Alarms("chair-01", t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(alarms) != 2 || !strings.Contains(string(alarms[0]), `"active"`) || !strings.Contains(string(alarms[1]), `"acknowledged"`) {
		t.Fatalf("alarm history after restart: %s", alarms)
	}
	// The window is half-open and by time.
	tr, _ = h.Trend("chair-01", t0.Add(10*time.Second), t0.Add(20*time.Second))
	if len(tr.SpO2) != 10 {
		t.Errorf("10 s window: %d points", len(tr.SpO2))
	}
	if tr, _ := h.Trend("chair-99", t0, t0.Add(time.Hour)); len(tr.SpO2) != 0 {
		t.Error("an unknown chair has a trend")
	}
}

// Records older than keep are deleted.
func TestPruneDeletesOld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	now := t0
	h := open(t, path, &now)
	for i := range 10 {
		h.Add(station.Effect{Chair: fmt.Sprintf("chair-%d", i%2), Trend: &station.TrendPoint{Param: "spo2", T: t0.Add(time.Duration(i) * time.Hour * 10), Value: wire.N(97)}})
	}
	for i := range 300 { // a chair whose points all go: its bucket is emptied, then deleted
		h.Add(station.Effect{Chair: "chair-old", Trend: &station.TrendPoint{Param: "pulse", T: t0.Add(time.Duration(i) * time.Second), Value: wire.N(70)}})
	}
	h.flush(true)
	now = t0.Add(100 * time.Hour) // keep 72 h: points before t0+28h go
	h.prune()
	tr, _ := h.Trend("chair-0", t0, now)
	tr1, _ := h.Trend("chair-1", t0, now)
	if got := len(tr.SpO2) + len(tr1.SpO2); got != 7 {
		t.Fatalf("%d points left after pruning, want 7 (30 h to 90 h)", got)
	}
	if tr, _ := h.Trend("chair-old", t0, now); len(tr.Pulse) != 0 {
		t.Fatalf("%d old points left", len(tr.Pulse))
	}
	h.Add(station.Effect{Chair: "chair-old", Trend: &station.TrendPoint{Param: "pulse", T: now, Value: wire.N(70)}})
	h.flush(true)
	if tr, _ := h.Trend("chair-old", now, now.Add(time.Second)); len(tr.Pulse) != 1 {
		t.Fatal("a pruned chair takes no new points")
	}
	h.Close()
}

// A full queue drops and counts, never blocks.
func TestQueueBound(t *testing.T) {
	now := t0
	h, err := Open(filepath.Join(t.TempDir(), "h.db"), Options{Keep: time.Hour, Queue: 10, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for i := range 15 {
		h.Add(station.Effect{Chair: "c", Trend: &station.TrendPoint{Param: "spo2", T: t0.Add(time.Duration(i) * time.Second)}})
	}
	if h.Dropped() != 5 {
		t.Fatalf("dropped %d, want 5", h.Dropped())
	}
}

// Trend points are read from the open minute before it is written, from
// the file after; points arriving out of order come back in time order; a
// late point of a minute already written is kept beside it; a redelivered
// point appears once.
func TestTrendBlocks(t *testing.T) {
	now := t0.Add(30 * time.Second)
	h := open(t, filepath.Join(t.TempDir(), "h.db"), &now)
	defer h.Close()
	add := func(sec int, v float64) {
		h.Add(station.Effect{Chair: "chair-01", Trend: &station.TrendPoint{Param: "spo2", T: t0.Add(time.Duration(sec) * time.Second), Value: wire.N(v)}})
	}
	for _, sec := range []int{0, 2, 1, 3} {
		add(sec, float64(90+sec))
	}
	add(2, 92) // redelivered
	values := func() string {
		tr, err := h.Trend("chair-01", t0, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range tr.SpO2 {
			out = append(out, fmt.Sprintf("%d:%v", p.T.Sub(t0)/time.Second, p.Value))
		}
		return strings.Join(out, " ")
	}
	h.Flush() // the minute is open: nothing written, all still readable
	if got := values(); got != "0:90 1:91 2:92 3:93" {
		t.Fatalf("open minute: %s", got)
	}
	now = t0.Add(66 * time.Second)
	h.Flush() // minute over: written
	h.mu.Lock()
	open := len(h.open)
	h.mu.Unlock()
	if open != 0 {
		t.Fatalf("%d blocks still open after their minute", open)
	}
	add(4, 94) // late, for the written minute
	add(61, 95)
	now = t0.Add(3 * time.Minute)
	h.Flush()
	if got := values(); got != "0:90 1:91 2:92 3:93 4:94 61:95" {
		t.Fatalf("after writing: %s", got)
	}
	if tr, _ := h.Trend("chair-01", t0.Add(time.Second), t0.Add(4*time.Second)); len(tr.SpO2) != 3 {
		t.Errorf("window [1 s, 4 s): %d points, want 3", len(tr.SpO2))
	}
	if tr, _ := h.Trend("chair-02", t0, t0.Add(time.Hour)); len(tr.SpO2) != 0 {
		t.Error("another chair's points leak into chair-02")
	}
}
