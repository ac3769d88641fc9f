package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/nonin"
)

// alarmLogJSON runs chairside -alarm-log -json on the bench's store, which
// the daemon may hold, and returns the header and the entries.
func alarmLogJSON(t *testing.T, be *bench) (header map[string]any, entries []map[string]any) {
	t.Helper()
	c := exec.Command(be.bin, "-alarm-log", "-json", "-config", be.config)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("-alarm-log -json: %v\n%s%s", err, out, stderr.String())
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("-alarm-log -json: line %q: %v", sc.Text(), err)
		}
		if header == nil {
			header = v
			continue
		}
		entries = append(entries, v)
	}
	if header["kind"] != "header" || num(header["format"]) != 1 || header["chair"] != "chair-07" {
		t.Fatalf("-alarm-log -json: header %v", header)
	}
	return header, entries
}

// IEC 60601-1-8 §6.12: the alarm log holds every alarm state change with
// its value, limit, acknowledger and audio state, and it can be read while
// the daemon runs (the store's bbolt file is locked then). Two high alarms
// ended by session_end leave their start and their end in the log.
func TestHILAlarmLogWhileRunning(t *testing.T) {
	_, rec, be := hilRig(t)
	be.write("hil.toml", hilProtocol+`[[limit]]
condition = "pulse_low"
priority = "high"
below = 50
delay = "2s"
`)
	be.start()
	const root = "chairside/chair-07/"
	rec.waitFor(t, "auto-started session", "/session", 20*time.Second, func(v map[string]any) bool { return v["phase"] == "baseline" })

	be.oxi.Set(nonin.Steady(85, 40))
	ids := map[string]string{} // condition -> alarm id
	for _, cond := range []string{"spo2_low", "pulse_low"} {
		a := rec.waitFor(t, cond+" high", "/alarm", 15*time.Second, func(v map[string]any) bool {
			return v["condition"] == cond && v["phase"] == "start" && v["priority"] == "high"
		})
		ids[cond] = a["id"].(string)
	}
	rec.publish(t, root+"cmd", cmd("ack-1", "ack", map[string]any{"alarm": ids["spo2_low"]}))
	rec.waitFor(t, "acknowledged", "/alarm", 5*time.Second, func(v map[string]any) bool {
		return v["id"] == ids["spo2_low"] && v["state"] == "acknowledged"
	})

	// Read while the daemon runs and holds the store: text, then JSON.
	start := time.Now()
	out := alarmLog(t, be)
	if !strings.HasPrefix(out, "# chairside alarm log: chair chair-07, store ") {
		t.Errorf("no header:\n%s", out)
	}
	for _, want := range []string{
		"\talarm\t-\tstart\tactive\tid=" + ids["spo2_low"] + " condition=spo2_low priority=high value=85 limit=88 audio=on",
		"\talarm\t-\tstart\tactive\tid=" + ids["pulse_low"] + " condition=pulse_low priority=high value=40 limit=50 audio=on",
		"\talarm\tnurse@station\tupdate\tacknowledged\tid=" + ids["spo2_low"],
		"\taudit\tnurse@station\tack\tok\t",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the alarm log read while the daemon runs lacks %q:\n%s", want, out)
		}
	}
	t.Logf("-alarm-log while running took %v", time.Since(start))

	rec.publish(t, root+"cmd", cmd("end-1", "session_end", nil))
	rec.waitFor(t, "session_end reply", "/cmd/reply", 5*time.Second, func(v map[string]any) bool { return v["id"] == "end-1" && v["ok"] == true })
	for _, id := range ids {
		rec.waitFor(t, "alarm end", "/alarm", 5*time.Second, func(v map[string]any) bool { return v["id"] == id && v["phase"] == "end" })
	}
	// The end is in the log once the disk goroutine wrote it; the daemon
	// still runs.
	deadline := time.Now().Add(5 * time.Second)
	var entries []map[string]any
	ended := map[string]map[string]any{}
	for len(ended) < 2 && time.Now().Before(deadline) {
		_, entries = alarmLogJSON(t, be)
		for _, e := range entries {
			if e["kind"] == "alarm" && e["phase"] == "end" {
				ended[e["id"].(string)] = e
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for cond, id := range ids {
		e := ended[id]
		if e == nil {
			t.Errorf("%s (%s): no end in the alarm log: %v", cond, id, entries)
			continue
		}
		if e["condition"] != cond || e["priority"] != "high" || e["state"] != "cleared" || e["audio"] == nil || e["t"] == nil {
			t.Errorf("%s end entry: %v", cond, e)
		}
		if _, ok := e["value"]; !ok {
			t.Errorf("%s end entry has no value field: %v", cond, e)
		}
		if _, ok := e["limit"]; !ok {
			t.Errorf("%s end entry has no limit field: %v", cond, e)
		}
	}
	if code, _ := be.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	// And after a clean stop, from the same file.
	if out := alarmLog(t, be); !strings.Contains(out, "\taudit\tnurse@station\tsession_end\tok\t") {
		t.Errorf("after the stop the alarm log lacks session_end:\n%s", out)
	}
}
