package monitor

import (
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/wire"
)

// infusion_start without a baseline blood pressure (the measurement still
// running, failed, or no module at all) is refused unless someone overrides,
// and the override names them, as the gate's does.
func TestInfusionNeedsABaselineBPOrAnOverride(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		why  string
	}{
		{"measurement running", nil, "is still running"},
		{"no module", func(c *Config) { c.Sensors = c.Sensors[:1] }, "no NIBP module is configured"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mods []func(*Config)
			if c.mod != nil {
				mods = append(mods, c.mod)
			}
			r := newRig(t, append([]func(*Config){func(c *Config) { c.Protocol.AutoStartAfter = 0 }}, mods...)...)
			r.startSession()
			r.run(2 * time.Second) // the baseline measurement takes 40 s
			evs := r.cmd(wire.ActionInfusionStart)
			if replyOK(evs) {
				t.Fatal("infusion started with no baseline blood pressure and no override")
			}
			if got := replyErr(evs); !strings.Contains(got, "no baseline blood pressure") || !strings.Contains(got, c.why) {
				t.Fatalf("refusal does not say why: %q", got)
			}
			if !replyOK(r.cmd(wire.ActionInfusionStart, func(c *Command) { c.Override = true; c.By = "dr-b@desk-1" })) {
				t.Fatal("the override was refused")
			}
			if r.e.Phase() != protocol.Infusion || r.e.sess.GateOverrideBy != "dr-b@desk-1" {
				t.Fatalf("phase %s, override by %q", r.e.Phase(), r.e.sess.GateOverrideBy)
			}
		})
	}
}

// The infusion's first measurement, standing in for the missing baseline,
// is judged against the gate: the team learns the gate would have held.
func TestFirstInfusionBPIsGateChecked(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Protocol.AutoStartAfter = 0 })
	r.bpAuto.Systolic, r.bpAuto.Diastolic = 150, 95
	r.startSession()
	r.run(2 * time.Second)
	r.cmd(wire.ActionInfusionStart, func(c *Command) { c.Override = true; c.By = "dr-b@desk-1" })
	r.run(2 * time.Minute)
	// The baseline fallback: the infusion's first NIBP is the baseline, and
	// a later one does not replace it.
	if b := r.e.sess.Baseline; b.Systolic.V != 150 || b.Diastolic.V != 95 {
		t.Fatalf("baseline %+v, want the infusion's first 150/95", b)
	}
	r.bpAuto.Systolic, r.bpAuto.Diastolic = 130, 85
	r.cmd(wire.ActionNIBPNow)
	r.run(time.Minute)
	if b := r.e.sess.Baseline; b.Systolic.V != 150 || r.e.sess.NIBPCount < 2 {
		t.Fatalf("after %d measurements the baseline is %+v, want still 150", r.e.sess.NIBPCount, b)
	}
	for _, ev := range r.evs {
		if a, ok := ev.(wire.Alarm); ok && a.Condition == condGate && a.Phase == wire.PhaseStart {
			if !strings.Contains(a.Message, "override by dr-b@desk-1") {
				t.Fatalf("message: %q", a.Message)
			}
			return
		}
	}
	t.Fatal("the first infusion BP over the gate raised no baseline_bp_above_gate")
}
