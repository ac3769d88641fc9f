package alarmlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

func alarmEntry(phase, state string, sec int) Entry {
	by := "anne@station"
	a := wire.Alarm{T: wire.At(t0.Add(time.Duration(sec) * time.Second)), Session: "s-1", ID: "a-1", Condition: "spo2_low",
		Priority: "high", Phase: phase, State: state, Value: wire.N(84), Limit: wire.N(90), Message: "SpO2 84 < 90", Audio: wire.AudioOn}
	if state == "acknowledged" {
		a.AckedBy = &by
	}
	return FromAlarm(a)
}

func readAll(t *testing.T, dir string) ([]Entry, []*LineError) {
	t.Helper()
	var got []Entry
	var bad []*LineError
	if err := Read(dir, func(e Entry) error { got = append(got, e); return nil }, func(e *LineError) { bad = append(bad, e) }); err != nil {
		t.Fatal(err)
	}
	return got, bad
}

func TestAppendRead(t *testing.T) {
	dir := t.TempDir()
	w := New(dir, 0)
	created, err := w.Open()
	if err != nil || !created {
		t.Fatalf("open: %v, created %t", err, created)
	}
	want := []Entry{alarmEntry("start", "active", 0), alarmEntry("update", "acknowledged", 5),
		{T: wire.At(t0.Add(6 * time.Second)), Kind: KindAudit, Audit: &Audit{By: "anne@station", Action: "session_end", OK: true, Detail: "x"}},
		alarmEntry("end", "cleared", 6)}
	for _, e := range want {
		if err := w.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	got, bad := readAll(t, dir)
	if len(bad) != 0 || len(got) != len(want) {
		t.Fatalf("got %d entries, %v", len(got), bad)
	}
	if g := got[1]; g.Alarm == nil || g.AckedBy == nil || *g.AckedBy != "anne@station" || g.Value != wire.N(84) || g.Limit != wire.N(90) || g.Audio != "on" {
		t.Errorf("alarm entry read back as %+v", g.Alarm)
	}
	if g := got[2]; g.Audit == nil || g.Alarm != nil || g.Action != "session_end" || !g.OK {
		t.Errorf("audit entry read back as %+v", g)
	}
	w2 := New(dir, 0)
	if created, err := w2.Open(); err != nil || created {
		t.Fatalf("reopen: %v, created %t", err, created)
	}
	w2.Close()
}

// A power cut mid-line leaves a torn last line: readers report it and read
// the rest; the next writer starts on a new line, and the corrupt line in
// the middle is reported, not taken.
func TestTornAndCorruptLines(t *testing.T) {
	dir := t.TempDir()
	w := New(dir, 0)
	if err := w.Append(alarmEntry("start", "active", 0)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	line, _ := encodeLine(alarmEntry("end", "cleared", 1))
	f, _ := os.OpenFile(filepath.Join(dir, FileName), os.O_WRONLY|os.O_APPEND, 0)
	f.Write(line[:len(line)/2])
	f.Close()
	got, bad := readAll(t, dir)
	if len(got) != 1 || len(bad) != 1 || !bad[0].Torn || bad[0].Line != 2 {
		t.Fatalf("torn: got %d entries, %v", len(got), bad)
	}
	w = New(dir, 0)
	if err := w.Append(alarmEntry("end", "cleared", 2)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, bad = readAll(t, dir)
	if len(got) != 2 || len(bad) != 1 || bad[0].Torn || got[1].Phase != "end" {
		t.Fatalf("after reopen: got %d entries, %v", len(got), bad)
	}
	if !strings.Contains(bad[0].Error(), "line 2: corrupt") {
		t.Errorf("report: %v", bad[0])
	}
	// A flipped byte fails the CRC.
	b, _ := os.ReadFile(filepath.Join(dir, FileName))
	b[20] ^= 1
	os.WriteFile(filepath.Join(dir, FileName), b, 0o644)
	got, bad = readAll(t, dir)
	if len(got) != 1 || len(bad) != 2 {
		t.Fatalf("flipped byte: got %d entries, %v", len(got), bad)
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	w := New(dir, 600)
	for i := range 10 {
		if err := w.Append(alarmEntry("update", "active", i)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if _, err := os.Stat(filepath.Join(dir, OldFileName)); err != nil {
		t.Fatal(err)
	}
	got, bad := readAll(t, dir)
	if len(bad) != 0 || len(got) == 0 || len(got) >= 10 {
		t.Fatalf("%d entries, %v", len(got), bad)
	}
	for i := 1; i < len(got); i++ {
		if !got[i].T.After(got[i-1].T.Time) {
			t.Errorf("entry %d is not after the one before", i)
		}
	}
	if got[len(got)-1].T.Time != t0.Add(9*time.Second) {
		t.Errorf("the newest entry is missing")
	}
}

func TestReadBadInputNoPanic(t *testing.T) {
	for _, s := range []string{"", "\n", "x", "00000000 {}\n", "zzzzzzzz {}\n", strings.Repeat("a", 3<<20) + "\nok"} {
		var n int
		_ = readFile("t", strings.NewReader(s), func(Entry) error { return nil }, func(*LineError) { n++ })
	}
}
