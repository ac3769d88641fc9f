package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/store"
)

// chairside -alarm-log prints one line per entry and no raw control
// character, even for entries an older daemon stored with escape sequences
// and newlines in them (a forged line, a cleared screen).
func TestAlarmLogEscapesEveryField(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hil.toml"), []byte(hilProtocol), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "chairside.toml")
	cfg := chairConfig("chair-07", "hil.toml", `broker = "tcp://127.0.0.1:1"`, dir)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "store"), store.Options{Root: "chairside/chair-07"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	forged := "\n2026-11-22T08:00:01.000Z\tdr@x\tlimits\tok\tforged"
	for _, e := range []store.Entry{
		{T: at, By: "nurse@station", Action: "limits", OK: false, Detail: "limits id=r-1 limit=map[\x1b[2J\x1b[31mx" + forged + ":1]: refused"},
		{T: at, By: "evil\x1b]0;title\x07" + forged, Action: "mark\u202e", OK: true, Detail: "\x9b31m\r"},
		{T: at, By: "anne@station", Action: "mark", OK: true, Detail: "mark id=r-3 (Müller \\ ok)"},
	} {
		if err := st.LogAudit(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-alarm-log", "-config", cfgPath}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines for 3 entries:\n%s", len(lines), out.String())
	}
	for i, l := range lines {
		if n := strings.Count(l, "\t"); n != 5 {
			t.Errorf("line %d has %d tabs, want 5: %q", i+1, n, l)
		}
		for _, r := range l {
			if r != '\t' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x202e) {
				t.Errorf("line %d carries %U: %q", i+1, r, l)
			}
		}
	}
	if want := "mark id=r-3 (Müller \\ ok)"; !strings.HasSuffix(lines[2], want) {
		t.Errorf("a clean entry was changed: %q, want it to end %q", lines[2], want)
	}
	if !strings.Contains(lines[0], `\x1b[2J`) || !strings.Contains(lines[0], `\n2026-11-22T08:00:01.000Z\tdr@x`) {
		t.Errorf("the escapes are not shown: %q", lines[0])
	}
}
