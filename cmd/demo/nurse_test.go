package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

// TestAlarmLineShowsEscalation: escalation is published as phase "update"
// with a higher priority (CONTRACT §alarms); the view prints a line for it,
// and none for an update that raises nothing (an acknowledgement).
func TestAlarmLineShowsEscalation(t *testing.T) {
	cv := &chairView{asked: map[string]bool{}, priority: map[string]string{}}
	a := wire.Alarm{ID: "a-1-1", Condition: "spo2_low", Priority: "medium", Phase: wire.PhaseStart, State: "active", Message: "SpO2 89 < 90"}
	if l := alarmLine(cv, a); !strings.HasPrefix(l, "start MEDIUM spo2_low") {
		t.Fatalf("start: %q", l)
	}
	a.Phase, a.Priority = wire.PhaseUpdate, "high"
	if l := alarmLine(cv, a); !strings.HasPrefix(l, "escalated MEDIUM → HIGH spo2_low") {
		t.Fatalf("escalation: %q", l)
	}
	a.State = "acknowledged"
	if l := alarmLine(cv, a); l != "" {
		t.Fatalf("acknowledgement printed as %q", l)
	}
}

// TestNurseAcksEscalatedAndLatchedAlarms: the nurse acknowledges an alarm
// ackAfter after she saw it sounding, again when it escalates or sounds
// again, and a latched one; she ends the session on observation_complete
// only once no alarm is latched or sounding high.
func TestNurseAcksEscalatedAndLatchedAlarms(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	cv := &chairView{asked: map[string]bool{}, session: wire.Session{ID: "s1", Phase: "observation", PhaseStarted: wire.At(t0)}}
	acts := func(at time.Duration) []string {
		var out []string
		for _, a := range nurseActs("c", cv, t0.Add(at), 10) {
			cv.asked[a.key] = true
			out = append(out, a.cmd.Action+" "+a.cmd.Alarm)
		}
		return out
	}
	want := func(at time.Duration, w ...string) {
		t.Helper()
		if got := acts(at); strings.Join(got, ",") != strings.Join(w, ",") {
			t.Fatalf("at %v: %q, want %q", at, got, w)
		}
	}
	spo2 := wire.Alarm{ID: "a-1", Condition: "spo2_low", Priority: "medium", State: "active"}
	done := wire.Alarm{ID: "a-2", Condition: "observation_complete", Priority: "low", State: "acknowledged"}
	cv.alarms = []wire.Alarm{spo2}
	want(0)
	want(ackAfter, "ack a-1")
	// Acknowledged, it sounds again (reminder) and escalates: a new ack.
	cv.alarms[0].State = "acknowledged"
	want(ackAfter + time.Second)
	cv.alarms[0].State, cv.alarms[0].Priority = "active", "high"
	want(ackAfter + 2*time.Second)
	want(2*ackAfter+2*time.Second, "ack a-1")
	// Its condition ends: latched, high. Observation is complete but the
	// session does not end over it; the nurse acknowledges it first.
	cv.alarms = []wire.Alarm{{ID: "a-1", Condition: "spo2_low", Priority: "high", State: "latched"}, done}
	want(3 * ackAfter)
	want(4*ackAfter, "ack a-1")
	cv.alarms = []wire.Alarm{done}
	want(4*ackAfter+time.Second, "session_end ")
}
