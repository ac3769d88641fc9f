package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/chairside/chairside/monitor/wire"
)

// Scenario times at which the demo's nurse acts (the scenarios start their
// infusion at 10 minutes and run it for 40), and how long she takes to
// acknowledge an alarm.
const (
	infusionStartAt = 10 * time.Minute
	infusionEndAt   = 50 * time.Minute
	ackAfter        = 15 * time.Second
)

// chairView is what the view knows of one chair.
type chairView struct {
	online   bool
	session  wire.Session
	spo2     wire.Vital
	pulse    wire.Vital
	nibp     wire.NIBP
	alarms   []wire.Alarm
	asked    map[string]bool      // nurse actions sent, by action or alarm id
	priority map[string]string    // each open alarm's last priority, by id: an update that raises it is an escalation
	observed time.Time            // when the observation phase was seen to end
	sounding map[string]time.Time // when the nurse first saw each alarm sounding, by id, state and priority
}

// view follows every chair over MQTT, prints them, and plays the nurse.
type view struct {
	out   io.Writer
	speed float64
	c     paho.Client
	seq   int

	mu     sync.Mutex
	chairs map[string]*chairView
	lines  []string // events to print at once
}

func newView(broker string, speed float64, out io.Writer) (*view, error) {
	v := &view{out: out, speed: speed, chairs: map[string]*chairView{}}
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID("demo-view").SetCleanSession(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetOrderMatters(false)
	subscribed := make(chan paho.Token, 1)
	opts.SetOnConnectHandler(func(c paho.Client) {
		tok := c.Subscribe("chairside/#", 1, func(_ paho.Client, m paho.Message) { v.receive(m.Topic(), m.Payload()) })
		select {
		case subscribed <- tok: // the first connect's
		default:
		}
	})
	v.c = paho.NewClient(opts)
	if tok := v.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("view: connect to %s: %v", broker, tok.Error())
	}
	select {
	case tok := <-subscribed:
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			v.close()
			return nil, fmt.Errorf("view: subscribe to chairside/# on %s: %v", broker, tok.Error())
		}
	case <-time.After(10 * time.Second):
		v.close()
		return nil, fmt.Errorf("view: no subscription to chairside/# on %s within 10 s", broker)
	}
	return v, nil
}

func (v *view) close() { v.c.Disconnect(250) }

// receive keeps the latest of each kind of message per chair.
func (v *view) receive(topic string, payload []byte) {
	parts := strings.SplitN(topic, "/", 3)
	if len(parts) < 3 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	cv := v.chairs[parts[1]]
	if cv == nil {
		cv = &chairView{asked: map[string]bool{}, priority: map[string]string{}}
		v.chairs[parts[1]] = cv
	}
	var err error
	switch parts[2] {
	case wire.TopicState:
		var s wire.State
		err = json.Unmarshal(payload, &s)
		cv.online = s.Online
	case wire.TopicSession:
		err = json.Unmarshal(payload, &cv.session)
	case wire.TopicSpO2:
		err = json.Unmarshal(payload, &cv.spo2)
	case wire.TopicPulse:
		err = json.Unmarshal(payload, &cv.pulse)
	case wire.TopicNIBP:
		err = json.Unmarshal(payload, &cv.nibp)
	case wire.TopicAlarms:
		var a wire.Alarms
		if err = json.Unmarshal(payload, &a); err == nil {
			cv.alarms = a.Alarms
		}
	case wire.TopicAlarm:
		var a wire.Alarm
		if err = json.Unmarshal(payload, &a); err == nil {
			if line := alarmLine(cv, a); line != "" {
				v.lines = append(v.lines, fmt.Sprintf("%s  %s alarm %s", time.Now().Format("15:04:05"), parts[1], line))
			}
		}
	case wire.TopicCmdReply:
		var r wire.Reply
		if err = json.Unmarshal(payload, &r); err == nil && !r.OK {
			v.lines = append(v.lines, fmt.Sprintf("%s  %s refused command %s: %s", time.Now().Format("15:04:05"), parts[1], r.ID, r.Error))
		}
	}
	if err != nil {
		v.lines = append(v.lines, fmt.Sprintf("%s: unreadable %s: %v", parts[1], topic, err))
	}
}

// run prints the view every `every` and the events as they come, and acts.
// A part that ends by itself ends the demo with its log.
func (v *view) run(ctx context.Context, every time.Duration, exited <-chan string) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	next := time.Now()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(v.out, "\nstopping: daemons first (NIBP aborted, state offline), then the emulators and the broker")
			return nil
		case msg := <-exited:
			return errors.New(msg)
		case <-tick.C:
		}
		v.nurse()
		v.mu.Lock()
		lines := v.lines
		v.lines = nil
		table := ""
		if time.Now().After(next) {
			table = v.table()
			next = time.Now().Add(every)
		}
		v.mu.Unlock()
		for _, l := range lines {
			fmt.Fprintln(v.out, l)
		}
		if table != "" {
			fmt.Fprint(v.out, table)
		}
	}
}

// table is the chairs' current state, under v.mu.
func (v *view) table() string {
	ids := make([]string, 0, len(v.chairs))
	for id := range v.chairs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s ---\n", time.Now().Format("15:04:05"))
	for _, id := range ids {
		cv := v.chairs[id]
		phase := cv.session.Phase
		if phase == "" {
			phase = "idle"
		}
		if !cv.online {
			phase = "OFFLINE"
		}
		timer := ""
		if !cv.session.PhaseStarted.IsZero() && phase != "idle" {
			timer = fmt.Sprintf("%5s", v.scenarioTime(time.Since(cv.session.PhaseStarted.Time)))
		}
		nibp := "NIBP --/--"
		if cv.nibp.Systolic.Valid {
			// In scenario time, like the phase timer: at -speed 10 a
			// reading taken 30 real seconds ago is 5 scenario minutes old.
			nibp = fmt.Sprintf("NIBP %s/%s (%s ago)", cv.nibp.Systolic, cv.nibp.Diastolic, v.scenarioTime(time.Since(cv.nibp.T.Time)))
		} else if cv.nibp.Error != "" {
			nibp = "NIBP failed: " + cv.nibp.Error
		}
		fmt.Fprintf(&b, "%-9s %-12s %5s  SpO2 %-4s pulse %-4s %s%s  %s\n", id, phase, timer,
			vital(cv.spo2), vital(cv.pulse), nibp, badges(cv.spo2), alarmSummary(cv.alarms))
	}
	return b.String()
}

// scenarioTime shows a real duration as the scenario's (speed times longer).
func (v *view) scenarioTime(d time.Duration) string {
	d = time.Duration(float64(d) * v.speed)
	return fmt.Sprintf("%dm%02d", int(d.Minutes()), int(d.Seconds())%60)
}

// rank orders alarm priorities; an unknown one ranks lowest.
func rank(priority string) int {
	switch priority {
	case "high":
		return 3
	case "medium":
		return 2
	case "low":
		return 1
	}
	return 0
}

// alarmLine is the event line for an alarm message, or "" for an update
// that is no escalation (an acknowledgement or a latch shows in the table).
// It remembers each open alarm's priority in cv, so that an update raising
// it (CONTRACT: escalation is published as phase "update") gets a line.
func alarmLine(cv *chairView, a wire.Alarm) string {
	was, seen := cv.priority[a.ID]
	switch a.Phase {
	case wire.PhaseEnd:
		delete(cv.priority, a.ID)
	default:
		cv.priority[a.ID] = a.Priority
	}
	phase := a.Phase
	if a.Phase == wire.PhaseUpdate {
		if !seen || rank(a.Priority) <= rank(was) {
			return ""
		}
		phase = "escalated " + strings.ToUpper(was) + " →"
	}
	return fmt.Sprintf("%s %s %s: %s (%s)", phase, strings.ToUpper(a.Priority), a.Condition, a.Message, a.State)
}

func vital(x wire.Vital) string {
	if x.Value.Valid {
		return x.Value.String()
	}
	if len(x.Flags) > 0 {
		return strings.Join(x.Flags, ",")
	}
	return "--"
}

func badges(x wire.Vital) string {
	for _, f := range x.Flags {
		if f == "simulated" || f == "uncalibrated" {
			return " [" + f + "]"
		}
	}
	return ""
}

func alarmSummary(as []wire.Alarm) string {
	if len(as) == 0 {
		return "no alarms"
	}
	var parts []string
	for _, a := range as {
		parts = append(parts, fmt.Sprintf("%s %s (%s)", strings.ToUpper(a.Priority), a.Condition, a.State))
	}
	return strings.Join(parts, "; ")
}

// act is one command the demo's nurse sends to a chair; key marks it as
// sent in chairView.asked.
type act struct {
	chair, key string
	cmd        wire.Command
}

// nurse does what the nurse would: starts and ends the infusion on the
// scenario's schedule (with the override when the gate alarm asks for it),
// acknowledges alarms (see nurseActs), and ends the session once
// observation is complete and no alarm still calls for her.
func (v *view) nurse() {
	var acts []act
	now := time.Now()
	v.mu.Lock()
	for id, cv := range v.chairs {
		for _, a := range nurseActs(id, cv, now, v.speed) {
			cv.asked[a.key] = true
			acts = append(acts, a)
		}
	}
	v.mu.Unlock()
	for _, a := range acts {
		v.seq++
		c := a.cmd
		c.V, c.ID, c.T, c.By = wire.Version, fmt.Sprintf("demo-%d", v.seq), wire.At(time.Now()), "nurse@demo"
		b, _ := json.Marshal(c)
		v.c.Publish("chairside/"+a.chair+"/"+wire.TopicCmd, 1, false, b)
		what := c.Action
		if c.Alarm != "" {
			what += " " + c.Alarm
		}
		if c.Override {
			what += " (override of the gate)"
		}
		fmt.Fprintf(v.out, "%s  nurse: %s %s\n", time.Now().Format("15:04:05"), a.chair, what)
	}
}

// nurseActs gives what the nurse does at chair id at now, under v.mu.
//
// She acknowledges an alarm ackAfter after she first saw it sounding: state
// active, or latched (a physiological alarm whose condition ended stays
// until acknowledged). She sees an alarm anew when its priority rises (an
// escalation, published as phase "update") or it sounds again after an
// acknowledgement (the reminder), so those are acknowledged too. She ends
// the session on observation_complete only when no alarm is latched or
// sounding at high priority: ending it would otherwise bury them.
func nurseActs(id string, cv *chairView, now time.Time, speed float64) []act {
	var acts []act
	s := cv.session
	in := time.Duration(float64(now.Sub(s.PhaseStarted.Time)) * speed)
	switch {
	case s.Phase == "baseline" && in >= infusionStartAt && s.Baseline.Systolic.Valid && !cv.asked["infusion_start "+s.ID]:
		// A real nurse waits for the baseline blood pressure too: the
		// chair refuses infusion_start without one (or an override).
		c := wire.Command{Action: wire.ActionInfusionStart}
		for _, a := range cv.alarms {
			c.Override = c.Override || a.Condition == "baseline_bp_above_gate"
		}
		acts = append(acts, act{id, "infusion_start " + s.ID, c})
	case s.Phase == "infusion" && in >= infusionEndAt-infusionStartAt && !cv.asked["infusion_end "+s.ID]:
		acts = append(acts, act{id, "infusion_end " + s.ID, wire.Command{Action: wire.ActionInfusionEnd}})
	}
	if cv.sounding == nil {
		cv.sounding = map[string]time.Time{}
	}
	calling, complete := false, false
	seen := map[string]bool{}
	for _, a := range cv.alarms {
		complete = complete || a.Condition == "observation_complete"
		if a.State != "active" && a.State != "latched" {
			continue
		}
		calling = calling || a.State == "latched" || a.Priority == "high"
		key := a.ID + " " + a.State + " " + a.Priority
		seen[key] = true
		first, ok := cv.sounding[key]
		if !ok {
			cv.sounding[key] = now
			continue
		}
		if now.Sub(first) >= ackAfter && !cv.asked[key] {
			acts = append(acts, act{id, key, wire.Command{Action: wire.ActionAck, Alarm: a.ID}})
		}
	}
	for key := range cv.sounding { // stopped sounding: the next time is a new time
		if !seen[key] {
			delete(cv.sounding, key)
			delete(cv.asked, key)
		}
	}
	if complete && !calling && !cv.asked["session_end "+s.ID] {
		acts = append(acts, act{id, "session_end " + s.ID, wire.Command{Action: wire.ActionSessionEnd}})
	}
	return acts
}
