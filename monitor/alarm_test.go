package monitor

import (
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// sessionRig is a rig with a session running since 00:00:00 (no auto-start)
// and a cuff that answers quickly so NIBP lines stay out of the way.
func sessionRig(t testing.TB, mod ...func(*Config)) *rig {
	t.Helper()
	mod = append([]func(*Config){func(c *Config) { c.Protocol.AutoStartAfter = 0 }}, mod...)
	r := newRig(t, mod...)
	r.bpTook = time.Second
	r.startSession()
	return r
}

// A value wobbling on the threshold makes no alarm (the delay restarts) and,
// once an alarm is on, does not end it (hysteresis): no alarm storm.
func TestHysteresisAndDelayPreventAlarmStorm(t *testing.T) {
	r := sessionRig(t)
	m := r.mark()
	for i := 0; i < 30; i++ { // 91, 92, 91, 92, ... around "below 92"
		r.spo2 = 91 + int16(i%2)
		r.run(time.Second)
	}
	expect(t, r.since(m, "alarm"))
	r.spo2 = 91
	r.run(12 * time.Second)
	for i := 0; i < 30; i++ { // wobble again: 92 is inside but within the hysteresis of 1
		r.spo2 = 91 + int16(i%2)
		r.run(time.Second)
	}
	r.spo2 = 93
	r.run(time.Second)
	expect(t, r.since(m, "alarm"),
		`00:00:41 alarm start spo2_low medium active audio=on present=true "SpO2 91 < 92"`,
		`00:01:13 alarm end spo2_low medium cleared audio=off present=false "SpO2 91 < 92"`,
	)
}

// A condition shorter than its delay raises nothing.
func TestConditionShorterThanDelay(t *testing.T) {
	r := sessionRig(t)
	m := r.mark()
	r.spo2 = 90
	r.run(9 * time.Second)
	r.spo2 = 97
	r.run(30 * time.Second)
	expect(t, r.since(m, "alarm"))
}

// Acknowledge silences and reminds every ack_reminder while the condition
// lasts; the condition's end clears it; its return is a new alarm.
func TestAckReminderThenConditionReturns(t *testing.T) {
	r := sessionRig(t)
	m := r.mark()
	r.spo2 = 90
	r.run(11 * time.Second)
	id := r.currentAlarmID("spo2_low")
	r.cmd(wire.ActionAck, func(c *Command) { c.Alarm = id })
	r.run(7 * time.Minute)
	r.spo2 = 97
	r.run(2 * time.Second)
	r.spo2 = 90
	r.run(11 * time.Second)
	expect(t, r.since(m, "alarm", "reminder", "annunciation"),
		`00:00:11 alarm start spo2_low medium active audio=on present=true "SpO2 90 < 92"`,
		"00:00:11 annunciation lamp=medium flash=true tone=medium",
		`00:00:11 alarm update spo2_low medium acknowledged audio=off present=true "SpO2 90 < 92" by nurse@station`,
		"00:00:11 annunciation lamp=medium flash=true tone=none", // the lamp stays, the sound stops
		"00:03:11 reminder a-1-1",
		"00:06:11 reminder a-1-1",
		`00:07:12 alarm end spo2_low medium cleared audio=off present=false "SpO2 90 < 92" by nurse@station`,
		"00:07:12 annunciation lamp=none flash=false tone=none",
		`00:07:24 alarm start spo2_low medium active audio=on present=true "SpO2 90 < 92"`,
		"00:07:24 annunciation lamp=medium flash=true tone=medium",
	)
	if a, _ := r.lastAlarm("spo2_low"); a.ID != "a-1-2" {
		t.Fatalf("the returning condition reused id %s", a.ID)
	}
}

// A latching high alarm outlives its condition until acknowledged.
func TestLatchedAlarmAfterConditionEnds(t *testing.T) {
	r := sessionRig(t)
	m := r.mark()
	r.spo2 = 85
	r.run(6 * time.Second)
	r.spo2 = 97
	r.run(30 * time.Second)
	r.cmd(wire.ActionAck, func(c *Command) { c.Alarm = "a-1-1" })
	expect(t, r.since(m, "alarm", "annunciation"),
		`00:00:06 alarm start spo2_low high active audio=on present=true "SpO2 85 < 88"`,
		"00:00:06 annunciation lamp=high flash=true tone=high",
		`00:00:07 alarm update spo2_low high latched audio=on present=false "SpO2 85 < 88"`,
		`00:00:36 alarm end spo2_low high cleared audio=off present=false "SpO2 85 < 88" by nurse@station`,
		"00:00:36 annunciation lamp=none flash=false tone=none",
	)
}

// A latched alarm whose condition comes back before the ack is active again,
// with the same id.
func TestLatchedAlarmConditionReturns(t *testing.T) {
	r := sessionRig(t)
	r.spo2 = 85
	r.run(6 * time.Second)
	r.spo2 = 97
	r.run(3 * time.Second)
	m := r.mark()
	r.spo2 = 86
	r.run(6 * time.Second)
	expect(t, r.since(m, "alarm"),
		`00:00:15 alarm update spo2_low high active audio=on present=true "SpO2 86 < 88"`,
	)
	if a, _ := r.lastAlarm("spo2_low"); a.ID != "a-1-1" {
		t.Fatalf("id = %s, want a-1-1", a.ID)
	}
}

// Pause silences the current alarms; a new alarm of higher priority sounds at
// once; when the pause ends, the paused alarm sounds again.
func TestPauseThenHigherPriorityBreaksThrough(t *testing.T) {
	r := sessionRig(t, func(c *Config) { c.Protocol.Alarm.EscalateAfter = 0 })
	m := r.mark()
	r.pulse = 125
	r.run(11 * time.Second)
	r.cmd(wire.ActionPauseAudio)
	r.run(10 * time.Second)
	r.spo2 = 85
	r.run(6 * time.Second)
	r.spo2 = 90 // high level recovers, latched at high: the alarm stays high
	r.run(2 * time.Minute)
	expect(t, r.since(m, "alarm", "annunciation"),
		`00:00:11 alarm start pulse_high medium active audio=on present=true "Pulse 125 > 120"`,
		"00:00:11 annunciation lamp=medium flash=true tone=medium",
		`00:00:11 alarm update pulse_high medium active audio=paused present=true "Pulse 125 > 120"`,
		"00:00:11 annunciation lamp=medium flash=true tone=none",
		`00:00:27 alarm start spo2_low high active audio=on present=true "SpO2 85 < 88"`,
		"00:00:27 annunciation lamp=high flash=true tone=high",
		`00:02:11 alarm update pulse_high medium active audio=on present=true "Pulse 125 > 120"`,
	)
	var list wire.Alarms
	for _, ev := range r.evs {
		if l, ok := ev.(wire.Alarms); ok {
			list = l
		}
	}
	if len(list.Alarms) != 2 || !list.AudioPausedUntil.IsZero() {
		t.Fatalf("retained list = %+v", list)
	}
}

// pause_audio with an alarm of the same priority starting during the pause:
// it stays silent until the pause ends.
func TestPauseSilencesNewAlarmOfSamePriority(t *testing.T) {
	r := sessionRig(t, func(c *Config) { c.Protocol.Alarm.EscalateAfter = 0 })
	r.pulse = 125
	r.run(11 * time.Second)
	r.cmd(wire.ActionPauseAudio)
	m := r.mark()
	r.spo2 = 90
	r.run(11 * time.Second)
	expect(t, r.since(m, "alarm start"),
		`00:00:22 alarm start spo2_low medium active audio=paused present=true "SpO2 90 < 92"`)
}

// An unacknowledged medium physiological alarm becomes high after
// escalate_after.
func TestEscalation(t *testing.T) {
	r := sessionRig(t)
	m := r.mark()
	r.spo2 = 90
	r.run(2*time.Minute + 15*time.Second)
	expect(t, r.since(m, "alarm"),
		`00:00:11 alarm start spo2_low medium active audio=on present=true "SpO2 90 < 92"`,
		`00:02:11 alarm update spo2_low high active audio=on present=true "SpO2 90 < 92 (unacknowledged 2m: escalated)"`,
	)
	// Technical medium alarms do not escalate.
	r2 := sessionRig(t)
	r2.silent = true
	r2.run(3 * time.Minute)
	if a, _ := r2.lastAlarm("sensor_silent"); a.Priority != "medium" {
		t.Fatalf("sensor_silent escalated to %s", a.Priority)
	}
}

// A priority rise on an acknowledged alarm makes it sound again.
func TestAcknowledgedAlarmSoundsAgainOnPriorityRise(t *testing.T) {
	r := sessionRig(t)
	r.spo2 = 90
	r.run(11 * time.Second)
	r.cmd(wire.ActionAck, func(c *Command) { c.Alarm = "*" })
	m := r.mark()
	r.spo2 = 86
	r.run(6 * time.Second)
	expect(t, r.since(m, "alarm"),
		`00:00:17 alarm update spo2_low high active audio=on present=true "SpO2 86 < 88"`)
}

// Probe off during an active SpO2 alarm: the desaturation alarm is neither
// ended nor changed by the missing values; spo2_probe_off says why; both end
// when good readings come back.
func TestProbeOffDuringActiveSpO2Alarm(t *testing.T) {
	r := sessionRig(t)
	m := r.mark()
	r.spo2 = 90
	r.run(11 * time.Second)
	r.spo2, r.flags = vitals.NoValue, vitals.ProbeOff
	r.run(15 * time.Second)
	r.spo2, r.flags = 97, 0
	r.run(2 * time.Second)
	expect(t, r.since(m, "alarm"),
		`00:00:11 alarm start spo2_low medium active audio=on present=true "SpO2 90 < 92"`,
		`00:00:22 alarm start spo2_probe_off medium active audio=on present=true "SpO2 probe off or sensor alarm for 10s"`,
		`00:00:27 alarm end spo2_low medium cleared audio=off present=false "SpO2 90 < 92"`,
		`00:00:27 alarm end spo2_probe_off medium cleared audio=off present=false "SpO2 probe off or sensor alarm for 10s"`,
	)
}

// Poor signal for 30 s raises spo2_signal_poor (low).
func TestSignalPoor(t *testing.T) {
	r := sessionRig(t)
	m := r.mark()
	r.flags = vitals.Artifact | vitals.LowPerfusion
	r.run(31 * time.Second)
	r.flags = 0
	r.run(time.Second)
	expect(t, r.since(m, "alarm"),
		`00:00:31 alarm start spo2_signal_poor low active audio=on present=true "SpO2 signal poor (artifact, searching or low perfusion) for 30s"`,
		`00:00:32 alarm end spo2_signal_poor low cleared audio=off present=false "SpO2 signal poor (artifact, searching or low perfusion) for 30s"`,
	)
}

// The engine, not the driver, times a sensor's silence.
func TestSensorSilent(t *testing.T) {
	r := sessionRig(t)
	r.run(5 * time.Second)
	m := r.mark()
	r.silent = true
	r.run(12 * time.Second)
	r.silent = false
	r.run(time.Second)
	expect(t, r.since(m, "alarm"),
		`00:00:15 alarm start sensor_silent medium active audio=on present=true "nonin sent no valid data for 10s"`,
		`00:00:18 alarm end sensor_silent medium cleared audio=off present=false "nonin sent no valid data for 10s"`,
	)
}

// More than 5 % garbled frames over 30 s raise sensor_garbled; it ends when
// the window no longer holds that many.
func TestSensorGarbled(t *testing.T) {
	r := sessionRig(t)
	m := r.mark()
	r.garbledPerSec = 3 // 3 of 78: 3.8 %
	r.run(40 * time.Second)
	expect(t, r.since(m, "alarm"))
	r.garbledPerSec = 6 // 6 of 81: 7.4 %; the 30 s window passes 5 % after 10 s
	r.run(20 * time.Second)
	r.garbledPerSec = 0
	r.run(40 * time.Second)
	got := r.since(m, "alarm")
	if len(got) != 2 || got[1][9:26] != "alarm end sensor_" {
		t.Fatalf("garbled alarms: %v", got)
	}
	expect(t, got[:1], `00:00:50 alarm start sensor_garbled low active audio=on present=true "nonin: 120 of 2370 frames garbled in the last 30s"`)
}

// sensor_garbled judges no share of too few frames: a sensor sending a
// handful a second (just back, or a slow one) is not in alarm for one bad
// frame, though 1 in 4 is over 5 %. Enough frames of the same mix are.
func TestSensorGarbledNeedsEnoughFrames(t *testing.T) {
	r := sessionRig(t)
	m := r.mark()
	r.goodPerSec, r.garbledPerSec = 3, 1
	r.run(time.Second)
	r.garbledPerSec = 0
	r.run(20 * time.Second)
	expect(t, r.since(m, "alarm"))
	// 1 of 4 every second from 00:00:22: with the first bad frame, 4 of
	// 3×24+4 = 76 frames at 00:00:24 is the first share over 5 %.
	r.garbledPerSec = 1
	r.run(5 * time.Second)
	expect(t, r.since(m, "alarm"), `00:00:24 alarm start sensor_garbled low active audio=on present=true "nonin: 4 of 76 frames garbled in the last 30s"`)
}

// Once raised, sensor_garbled ends only when the share is down to half the
// threshold: a line hovering between the two keeps one alarm rather than
// starting and ending it.
func TestSensorGarbledHysteresis(t *testing.T) {
	r := sessionRig(t)
	m := r.mark()
	r.garbledPerSec = 6 // 6 of 81: 7.4 %
	r.run(40 * time.Second)
	r.garbledPerSec = 3 // 3 of 78: 3.8 %, under 5 % but over 2.5 %
	r.run(90 * time.Second)
	got := r.since(m, "alarm")
	if len(got) != 1 || got[0][9:28] != "alarm start sensor_" {
		t.Fatalf("at 3.8 %% after 7.4 %%: %v; want the one alarm, still present", got)
	}
	r.garbledPerSec = 1 // 1 of 76: 1.3 %
	r.run(40 * time.Second)
	got = r.since(m, "alarm")
	if len(got) != 2 || got[1][9:26] != "alarm end sensor_" {
		t.Fatalf("at 1.3 %%: %v; want the alarm ended", got)
	}
}

// An acknowledged alarm whose condition steps down a level and comes back to
// the priority that was acknowledged stays acknowledged: its condition never
// ended (CONTRACT §3: acknowledged leaves only when the condition ends). Only
// a rise above what the nurse acknowledged sounds again.
func TestAcknowledgedAlarmStaysSilentBackAtAckedPriority(t *testing.T) {
	r := sessionRig(t)
	m := r.mark()
	r.spo2 = 86
	r.run(6 * time.Second)
	r.cmd(wire.ActionAck, func(c *Command) { c.Alarm = "*" })
	for i := 0; i < 2; i++ {
		r.spo2 = 90
		r.run(10 * time.Second)
		r.spo2 = 86
		r.run(10 * time.Second)
	}
	r.spo2 = 97
	r.run(2 * time.Second)
	expect(t, r.since(m, "alarm", "annunciation"),
		`00:00:06 alarm start spo2_low high active audio=on present=true "SpO2 86 < 88"`,
		"00:00:06 annunciation lamp=high flash=true tone=high",
		`00:00:06 alarm update spo2_low high acknowledged audio=off present=true "SpO2 86 < 88" by nurse@station`,
		"00:00:06 annunciation lamp=high flash=true tone=none",
		`00:00:07 alarm update spo2_low medium acknowledged audio=off present=true "SpO2 90 < 92" by nurse@station`,
		"00:00:07 annunciation lamp=medium flash=true tone=none",
		`00:00:22 alarm update spo2_low high acknowledged audio=off present=true "SpO2 86 < 88" by nurse@station`,
		"00:00:22 annunciation lamp=high flash=true tone=none",
		`00:00:27 alarm update spo2_low medium acknowledged audio=off present=true "SpO2 90 < 92" by nurse@station`,
		"00:00:27 annunciation lamp=medium flash=true tone=none",
		`00:00:42 alarm update spo2_low high acknowledged audio=off present=true "SpO2 86 < 88" by nurse@station`,
		"00:00:42 annunciation lamp=high flash=true tone=none",
		`00:00:47 alarm end spo2_low high cleared audio=off present=false "SpO2 86 < 88" by nurse@station`,
		"00:00:47 annunciation lamp=none flash=false tone=none",
	)
}

// Every physiological limit of the shipped protocol (CONTRACT §3) raises its
// condition at its priority, after its delay, with the value and the limit.
func TestEveryShippedLimit(t *testing.T) {
	cases := []struct {
		name       string
		spo2, puls int16
		bp         vitals.Result
		run        time.Duration
		cond       string
		want       string
	}{
		{"spo2 medium", 91, 72, vitals.Result{}, 12 * time.Second, "spo2_low", `00:00:11 alarm start spo2_low medium active audio=on present=true "SpO2 91 < 92"`},
		{"spo2 high", 87, 72, vitals.Result{}, 12 * time.Second, "spo2_low", `00:00:06 alarm start spo2_low high active audio=on present=true "SpO2 87 < 88"`},
		{"pulse high medium", 97, 121, vitals.Result{}, 12 * time.Second, "pulse_high", `00:00:11 alarm start pulse_high medium active audio=on present=true "Pulse 121 > 120"`},
		{"pulse high high", 97, 141, vitals.Result{}, 12 * time.Second, "pulse_high", `00:00:11 alarm start pulse_high high active audio=on present=true "Pulse 141 > 140"`},
		{"pulse low medium", 97, 49, vitals.Result{}, 12 * time.Second, "pulse_low", `00:00:11 alarm start pulse_low medium active audio=on present=true "Pulse 49 < 50"`},
		{"pulse low high", 97, 39, vitals.Result{}, 12 * time.Second, "pulse_low", `00:00:11 alarm start pulse_low high active audio=on present=true "Pulse 39 < 40"`},
		{"at the limit is inside", 92, 120, vitals.Result{Systolic: 159, Diastolic: 99}, 30 * time.Second, "", ""},
		{"systolic high medium", 97, 72, vitals.Result{Systolic: 160, Diastolic: 80}, 5 * time.Second, "nibp_systolic_high", `00:00:01 alarm start nibp_systolic_high medium active audio=on present=true "Systolic 160 ≥ 160"`},
		{"systolic high high", 97, 72, vitals.Result{Systolic: 180, Diastolic: 80}, 5 * time.Second, "nibp_systolic_high", `00:00:01 alarm start nibp_systolic_high high active audio=on present=true "Systolic 180 ≥ 180"`},
		{"diastolic high medium", 97, 72, vitals.Result{Systolic: 130, Diastolic: 100}, 5 * time.Second, "nibp_diastolic_high", `00:00:01 alarm start nibp_diastolic_high medium active audio=on present=true "Diastolic 100 ≥ 100"`},
		{"diastolic high high", 97, 72, vitals.Result{Systolic: 130, Diastolic: 110}, 5 * time.Second, "nibp_diastolic_high", `00:00:01 alarm start nibp_diastolic_high high active audio=on present=true "Diastolic 110 ≥ 110"`},
		{"systolic low medium", 97, 72, vitals.Result{Systolic: 89, Diastolic: 60}, 5 * time.Second, "nibp_systolic_low", `00:00:01 alarm start nibp_systolic_low medium active audio=on present=true "Systolic 89 < 90"`},
		{"systolic low high", 97, 72, vitals.Result{Systolic: 79, Diastolic: 50}, 5 * time.Second, "nibp_systolic_low", `00:00:01 alarm start nibp_systolic_low high active audio=on present=true "Systolic 79 < 80"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, func(cf *Config) { cf.Protocol.AutoStartAfter = 0 })
			r.bpTook = time.Second
			if c.bp.Systolic > 0 {
				r.bpAuto = c.bp
			}
			r.spo2, r.pulse = c.spo2, c.puls
			r.startSession()
			r.run(c.run)
			var got []string
			for _, l := range r.since(0, "alarm start") {
				if !strings.Contains(l, "baseline_bp_above_gate") {
					got = append(got, l)
				}
			}
			if c.want == "" {
				expect(t, got)
				return
			}
			expect(t, got, c.want)
			if a, _ := r.lastAlarm(c.cond); a.Kind != wire.KindPhysiological {
				t.Fatalf("payload %+v", a)
			}
		})
	}
}
