package main

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

// A burst of commands faster than the chair takes them: every one gets
// exactly one reply (applied, or refused as busy), none vanishes after its
// PUBACK. Malformed ones are answered too: with their id, or with an empty
// id when none can be read, and they are in the alarm log.
func TestHILEveryCommandAnsweredOnce(t *testing.T) {
	_, rec, be := hilRig(t)
	be.start()
	rec.waitFor(t, "state online", "/state", 20*time.Second, func(v map[string]any) bool { return v["online"] == true })
	topic := "chairside/chair-07/" + wire.TopicCmd
	from := rec.count()

	const n = 3000
	now := time.Now().UTC().Format(wire.TimeLayout)
	for i := range n {
		p := fmt.Sprintf(`{"v":1,"id":"burst-%d","t":%q,"action":"pause_audio","by":"nurse@station"}`, i, now)
		rec.c.Publish(topic, 1, false, p) // not waited for: a burst
	}
	rec.c.Publish(topic, 1, false, `{"v":1,"id":"bad-json","t":`).Wait()
	rec.c.Publish(topic, 1, false, `{"id":"no-v","t":"`+now+`","action":"pause_audio","by":"x"}`).Wait()
	rec.c.Publish(topic, 1, false, `not json at all`).Wait()

	replies := map[string]int{}
	errs := map[string]string{}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		replies, errs = map[string]int{}, map[string]string{}
		for _, m := range rec.since(from) {
			if !strings.HasSuffix(m.topic, "/"+wire.TopicCmdReply) {
				continue
			}
			id, _ := m.v["id"].(string)
			replies[id]++
			e, _ := m.v["error"].(string)
			errs[id] = e
		}
		if len(replies) >= n+3 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	busy := 0
	for i := range n {
		id := fmt.Sprintf("burst-%d", i)
		if replies[id] != 1 {
			t.Errorf("%s: %d replies, want 1", id, replies[id])
		}
		if strings.HasPrefix(errs[id], "busy") {
			busy++
		}
	}
	if replies["bad-json"] != 1 || !strings.Contains(errs["bad-json"], "malformed command") {
		t.Errorf("bad-json: %d replies, error %q", replies["bad-json"], errs["bad-json"])
	}
	if replies["no-v"] != 1 || !strings.Contains(errs["no-v"], `field "v" is missing`) {
		t.Errorf("no-v: %d replies, error %q", replies["no-v"], errs["no-v"])
	}
	if replies[""] != 1 || !strings.Contains(errs[""], "malformed command") {
		t.Errorf("no id: %d replies, error %q", replies[""], errs[""])
	}
	t.Logf("%d commands: %d applied, %d refused as busy", n, n-busy, busy)
	if code, _ := be.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	out := alarmLog(t, be)
	for _, want := range []string{"id=bad-json", "id=no-v", "refused: malformed command: invalid JSON"} {
		if !strings.Contains(out, want) {
			t.Errorf("the alarm log lacks %q", want)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// alarmLog runs chairside -alarm-log on the bench's store (the daemon may run).
func alarmLog(t *testing.T, be *bench) string {
	t.Helper()
	out, err := exec.Command(be.bin, "-alarm-log", "-config", be.config).CombinedOutput()
	if err != nil {
		t.Fatalf("-alarm-log: %v\n%s", err, out)
	}
	return string(out)
}
