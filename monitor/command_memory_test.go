package monitor

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

// replies and audits of one step.
func repliesAndAudits(evs []Event) (reps []wire.Reply, audits []Audit) {
	for _, ev := range evs {
		switch v := ev.(type) {
		case wire.Reply:
			reps = append(reps, v)
		case Audit:
			audits = append(audits, v)
		}
	}
	return reps, audits
}

// pauseCmd is a pause_audio command (allowed in any phase) sent at t.
func pauseCmd(id string, t time.Time) Command {
	return Command{Command: wire.Command{V: 1, ID: id, T: wire.At(t), Action: wire.ActionPauseAudio, By: "nurse@station"}}
}

// The same bytes delivered again within max_age are answered again and not
// applied again, however many other commands came between (the memory was
// 256 ids: after 300 others the redelivery 9 s later was applied twice).
func TestRedeliveryAfterManyCommandsAppliedOnce(t *testing.T) {
	r := sessionRig(t)
	first := pauseCmd("station-1", r.now)
	if reps, _ := repliesAndAudits(r.e.Command(r.now, first)); len(reps) != 1 || !reps[0].OK {
		t.Fatalf("first delivery: %+v", reps)
	}
	for i := range 300 {
		r.e.Command(r.now.Add(time.Duration(i)*10*time.Millisecond), pauseCmd(fmt.Sprintf("other-%d", i), r.now))
	}
	later := r.now.Add(9 * time.Second)
	reps, audits := repliesAndAudits(r.e.Command(later, first))
	if len(reps) != 1 || !reps[0].OK || reps[0].ID != "station-1" {
		t.Fatalf("redelivery: replies %+v, want the first reply once", reps)
	}
	if len(audits) != 0 {
		t.Fatalf("redelivery 9 s later was applied again: %+v", audits)
	}
}

// When the memory is full of ids younger than max_age, a new command is
// refused as busy, with a reply and a log entry, and is not remembered: the
// same id is applied once the memory has room again.
func TestCommandsBeyondTheMemoryRefusedBusy(t *testing.T) {
	r := sessionRig(t)
	for i := len(r.e.cmds.IDs); i < rememberedCmds; i++ {
		if reps, _ := repliesAndAudits(r.e.Command(r.now, pauseCmd(fmt.Sprintf("c-%d", i), r.now))); len(reps) != 1 || !reps[0].OK {
			t.Fatalf("command %d: %+v", i, reps)
		}
	}
	over := pauseCmd("over", r.now)
	reps, audits := repliesAndAudits(r.e.Command(r.now, over))
	if len(reps) != 1 || reps[0].OK || !strings.HasPrefix(reps[0].Error, "busy") || reps[0].ID != "over" {
		t.Fatalf("command past the memory: replies %+v, want one busy refusal", reps)
	}
	if len(audits) != 1 || audits[0].OK || !strings.Contains(audits[0].Detail, "busy") {
		t.Fatalf("busy refusal not logged: %+v", audits)
	}
	// max_age later the first ids may go; sent again (a new t) it is taken.
	later := r.now.Add(31 * time.Second)
	reps, _ = repliesAndAudits(r.e.Command(later, pauseCmd("over", later)))
	if len(reps) != 1 || !reps[0].OK {
		t.Fatalf("after max_age: %+v, want accepted", reps)
	}
}

// An id is kept as long as a redelivery could pass the age check: a command
// stamped max_age ahead of the chair's clock is remembered until its t +
// max_age, not just max_age from its arrival.
func TestIDOfFutureStampedCommandKeptUntilItsAgeRefuses(t *testing.T) {
	r := sessionRig(t)
	ahead := pauseCmd("ahead", r.now.Add(29*time.Second))
	r.e.Command(r.now, ahead)
	for i := range rememberedCmds - 1 {
		r.e.Command(r.now, pauseCmd(fmt.Sprintf("c-%d", i), r.now))
	}
	at := r.now.Add(50 * time.Second) // the others may go; "ahead" is 21 s old
	r.e.Command(at, pauseCmd("nudge", at))
	_, audits := repliesAndAudits(r.e.Command(at, ahead))
	if len(audits) != 0 {
		t.Fatalf("redelivery within its max_age applied again: %+v", audits)
	}
}

// A t in year 9999 or year 1 is refused with a clear error (the age used to
// overflow: year 9999 was accepted).
func TestCommandTimeFarAwayRefused(t *testing.T) {
	r := sessionRig(t)
	for _, tc := range []struct {
		t    string
		want string
	}{
		{"9999-12-31T23:59:59Z", "command time is more than a year in the future"},
		{"0001-01-01T00:00:00Z", "command is more than a year old, more than max_age 30s"},
		{"0002-01-01T00:00:01Z", "command is more than a year old"},
	} {
		wc, err := wire.ParseCommand([]byte(`{"v":1,"id":"far-` + tc.t[:4] + `","t":"` + tc.t + `","action":"pause_audio","by":"x"}`))
		if err != nil {
			t.Fatalf("t %s: %v", tc.t, err)
		}
		reps, audits := repliesAndAudits(r.e.Command(r.now, Command{Command: wc}))
		if len(reps) != 1 || reps[0].OK || !strings.HasPrefix(reps[0].Error, tc.want) {
			t.Errorf("t %v: replies %+v, want refused %q", tc.t, reps, tc.want)
		}
		if len(audits) != 1 || audits[0].OK {
			t.Errorf("t %v: audits %+v, want one refusal", tc.t, audits)
		}
	}
}

// A payload that is not a valid command is refused with one reply (an empty
// id when none could be read) and an entry in the alarm log; its text does
// not reach the log raw.
func TestInvalidCommandAnsweredAndLogged(t *testing.T) {
	r := sessionRig(t)
	evs := r.e.Command(r.now, Command{Invalid: errors.New("malformed command: unexpected EOF")})
	reps, audits := repliesAndAudits(evs)
	if len(reps) != 1 || reps[0].OK || reps[0].ID != "" || reps[0].Error != "malformed command: unexpected EOF" {
		t.Fatalf("replies %+v, want one refusal with an empty id", reps)
	}
	if len(audits) != 1 || audits[0].OK || !strings.Contains(audits[0].Detail, "refused: malformed command") {
		t.Fatalf("audits %+v, want the refusal logged", audits)
	}
	c := Command{Invalid: errors.New(`field "by" contains a control character U+000A`),
		Command: wire.Command{V: 1, ID: "r-1", Action: "mark\x1b[2J", By: "x\n2026-01-01T00:00:00.000Z\tdr@x\tlimits\tok"}}
	_, audits = repliesAndAudits(r.e.Command(r.now, c))
	for _, a := range audits {
		for _, f := range []string{a.By, a.Action, a.Detail} {
			if strings.ContainsAny(f, "\n\x1b") {
				t.Errorf("audit field carries a control character: %q", f)
			}
		}
	}
}

// A limits command whose table holds escape sequences and a newline is
// refused, and its log entry carries none of them (they forged an extra
// line in chairside -alarm-log).
func TestLimitsWithControlCharactersNotLoggedRaw(t *testing.T) {
	r := sessionRig(t)
	evs := r.cmd(wire.ActionLimits, func(c *Command) {
		c.Limit = map[string]any{"condition": "spo2_low", "priority": "high", "below": 88.0,
			"\x1b[31mx\n2026-11-22T08:00:00.000Z\tdr@x\tlimits\tok\tforged": 1.0}
	})
	reps, audits := repliesAndAudits(evs)
	if len(reps) != 1 || reps[0].OK || !strings.Contains(reps[0].Error, `field "limit"`) {
		t.Fatalf("replies %+v, want refused naming the limit", reps)
	}
	if len(audits) != 1 {
		t.Fatalf("audits %+v", audits)
	}
	for _, s := range []string{audits[0].Detail, reps[0].Error} {
		if strings.ContainsAny(s, "\n\x1b\t") {
			t.Errorf("carries a control character: %q", s)
		}
	}
}

// The remembered ids and how long to keep them survive a restart; a
// snapshot from before Until keeps its ids max_age and more.
func TestCommandMemorySurvivesRestore(t *testing.T) {
	r := sessionRig(t)
	c := pauseCmd("station-9", r.now)
	r.e.Command(r.now, c)
	snap := r.e.Snapshot()
	b, err := snap.Encode()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := DecodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	restoredAt := r.now.Add(5 * time.Second)
	dec.Commands.Until = nil // as a snapshot from before
	e, _, err := Restore(rigConfig(r.e.proto), dec, restoredAt)
	if err != nil {
		t.Fatal(err)
	}
	_, audits := repliesAndAudits(e.Command(restoredAt.Add(20*time.Second), c))
	if len(audits) != 0 {
		t.Fatalf("redelivery after a restore applied again: %+v", audits)
	}
}
