package monitor

import (
	"strings"
	"testing"

	"github.com/chairside/chairside/monitor/wire"
)

// A `limits` command that would make a "too high" limit overlap a "too low"
// one (pulse_high above 30 beside pulse_low below 50) is refused, as the same
// pair in the protocol file is: a patient would be in two alarms at once.
func TestLimitCommandOverlappingLowAndHighIsRefused(t *testing.T) {
	r := sessionRig(t)
	evs := r.cmd(wire.ActionLimits, func(c *Command) {
		c.Limit = map[string]any{"condition": "pulse_high", "priority": "medium", "above": 30.0}
	})
	if replyOK(evs) {
		t.Fatal("pulse_high above 30 was accepted beside pulse_low below 50")
	}
	if got := replyErr(evs); !strings.Contains(got, "overlap") || !strings.Contains(got, "pulse_low") {
		t.Fatalf("refusal does not say what overlaps: %q", got)
	}
}
