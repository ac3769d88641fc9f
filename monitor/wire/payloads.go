package wire

import "encoding/json"

// Record holds the fields every record-stream message carries (vitals/*, alarm,
// session, session/summary, gap). The engine leaves them zero; the outbox
// fills them in when it commits the message, so seq is assigned exactly once.
//
// In the retained alarms list, whose items are live state and not records,
// stream, seq and boot are left out.
type Record struct {
	V           int    `json:"v"`
	Stream      string `json:"stream,omitempty"`
	Seq         uint64 `json:"seq,omitempty"`
	Boot        uint64 `json:"boot,omitempty"`
	ClockSynced bool   `json:"clock_synced"`
}

// State is the retained liveness message and the MQTT Will (online false).
type State struct {
	V           int    `json:"v"`
	Online      bool   `json:"online"`
	Boot        uint64 `json:"boot"`
	Stream      string `json:"stream"`
	Version     string `json:"version"`
	T           Time   `json:"t"`
	ClockSynced bool   `json:"clock_synced"`
	Session     string `json:"session"`
	Phase       string `json:"phase"`

	will bool // made by Will: encode t, clock_synced, session and phase as null
}

// Will is the state message the broker publishes for the chair when it is
// gone without a word (its MQTT Will). It is handed to the broker at connect
// and sent at some unknown later time, so it says only what stays true: which
// chair run it was (boot, stream, version) and that it is offline. t,
// clock_synced, session and phase are null (unknown then): a subscriber keeps
// the session and phase it last had from state and session, and never shows
// a phase the chair left hours ago.
func (s State) Will() State {
	return State{V: s.V, Boot: s.Boot, Stream: s.Stream, Version: s.Version, will: true}
}

// MarshalJSON writes the state; a Will's unknown fields as null.
func (s State) MarshalJSON() ([]byte, error) {
	type plain State
	if !s.will {
		return json.Marshal(plain(s))
	}
	return json.Marshal(struct {
		V           int     `json:"v"`
		Online      bool    `json:"online"`
		Boot        uint64  `json:"boot"`
		Stream      string  `json:"stream"`
		Version     string  `json:"version"`
		T           *Time   `json:"t"`
		ClockSynced *bool   `json:"clock_synced"`
		Session     *string `json:"session"`
		Phase       *string `json:"phase"`
	}{V: s.V, Boot: s.Boot, Stream: s.Stream, Version: s.Version})
}

// UnmarshalJSON reads a state; one whose phase is null is a Will (IsWill).
func (s *State) UnmarshalJSON(b []byte) error {
	type plain State
	var p struct {
		plain
		Phase *string `json:"phase"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = State(p.plain)
	if p.Phase == nil {
		s.will = true
	} else {
		s.Phase = *p.Phase
	}
	return nil
}

// IsWill reports a Will: t, clock_synced, session and phase are unknown.
func (s State) IsWill() bool { return s.will }

// Vital is one second's SpO2 or pulse (topics vitals/spo2, vitals/pulse).
// Value is null with flags saying why when there is no valid value.
type Vital struct {
	Record
	T       Time     `json:"t"`
	Session string   `json:"session"`
	Param   string   `json:"param"`
	Value   Num      `json:"value"`
	Unit    string   `json:"unit"`
	Source  string   `json:"source"`
	Flags   []string `json:"flags"`
}

// NIBP is one cuff measurement (topic vitals/nibp). A failed one has null
// pressures and Error set.
type NIBP struct {
	Record
	T         Time     `json:"t"`
	Session   string   `json:"session"`
	Param     string   `json:"param"` // "nibp"
	Systolic  Num      `json:"systolic"`
	Diastolic Num      `json:"diastolic"`
	Mean      Num      `json:"mean"`
	Pulse     Num      `json:"pulse"`
	Unit      string   `json:"unit"`
	Source    string   `json:"source"`
	Request   string   `json:"request"`
	Error     string   `json:"error,omitempty"`
	Flags     []string `json:"flags"`
}

// Alarm is one change of one alarm (topic alarm): its start, an update
// (priority, state or audio changed) or its end.
type Alarm struct {
	Record
	T               Time    `json:"t"`
	Session         string  `json:"session"`
	ID              string  `json:"id"`
	Condition       string  `json:"condition"`
	Kind            string  `json:"kind"`     // physiological | technical
	Priority        string  `json:"priority"` // high | medium | low
	Phase           string  `json:"phase"`    // start | update | end
	State           string  `json:"state"`    // active | acknowledged | latched | cleared
	ConditionActive bool    `json:"condition_active"`
	Value           Num     `json:"value"`
	Limit           Num     `json:"limit"`
	Message         string  `json:"message"`
	AckedBy         *string `json:"acked_by"`
	Audio           string  `json:"audio"` // on | paused | off
	Started         Time    `json:"started"`
}

// Alarm phases and states, as published.
const (
	PhaseStart  = "start"
	PhaseUpdate = "update"
	PhaseEnd    = "end"

	KindPhysiological = "physiological"
	KindTechnical     = "technical"

	AudioOn     = "on"
	AudioPaused = "paused"
	AudioOff    = "off"
)

// Alarms is the retained list of current alarms (topic alarms).
type Alarms struct {
	V                int     `json:"v"`
	T                Time    `json:"t"`
	AudioPausedUntil Time    `json:"audio_paused_until"`
	Alarms           []Alarm `json:"alarms"`
}

// Baseline is the session's reference values; null until known.
type Baseline struct {
	Systolic  Num `json:"systolic"`
	Diastolic Num `json:"diastolic"`
	Pulse     Num `json:"pulse"`
	SpO2      Num `json:"spo2"`
}

// Session is the retained session state (topic session), published on every change.
type Session struct {
	Record
	T            Time   `json:"t"`
	ID           string `json:"id"`
	Encounter    string `json:"encounter"`
	Phase        string `json:"phase"`
	PhaseStarted Time   `json:"phase_started"`
	// PhasePlanned is the phase's planned length from the protocol as an
	// ISO 8601 duration ("PT40M"), so a display can show "23:14 / 40:00";
	// null when the phase has none (idle, baseline, ended).
	PhasePlanned   *string  `json:"phase_planned"`
	Started        Time     `json:"started"`
	Protocol       string   `json:"protocol"`
	Baseline       Baseline `json:"baseline"`
	NextNIBP       Time     `json:"next_nibp"`
	GateOverrideBy *string  `json:"gate_override_by"`
}

// Stat is a minimum, maximum and median; absent parts are null.
type Stat struct {
	Min    Num `json:"min"`
	Max    Num `json:"max"`
	Median Num `json:"median"`
}

// NIBPStat summarises the session's cuff measurements.
type NIBPStat struct {
	SystolicMax  Num `json:"systolic_max"`
	DiastolicMax Num `json:"diastolic_max"`
	Count        int `json:"count"`
}

// Mark is a note a nurse added to the session (no names or health details).
type Mark struct {
	T    Time   `json:"t"`
	Note string `json:"note"`
	By   string `json:"by"`
}

// Discharge is the discharge check: judged when observation completes and
// again every second until the session ends, reported in observation_complete's
// message and, as data, in the session summary.
type Discharge struct {
	T        Time        `json:"t"` // when it was judged
	Met      bool        `json:"met"`
	Unmet    []string    `json:"unmet"` // why not, one line per criterion that fails
	Criteria []Criterion `json:"criteria"`
}

// Criterion is one discharge criterion as judged: spo2 (at least a value),
// pulse and systolic (within an amount of the baseline). A criterion that
// cannot be judged (no current value, no baseline) is not met.
type Criterion struct {
	Name     string `json:"name"`     // spo2 | pulse | systolic
	Rule     string `json:"rule"`     // at_least | within
	Value    Num    `json:"value"`    // the latest value; null when none is current
	Baseline Num    `json:"baseline"` // for within; null for at_least or when unknown
	Limit    Num    `json:"limit"`    // the protocol's number
	Met      bool   `json:"met"`
}

// Summary is published once when a session ends (topic session/summary).
type Summary struct {
	Record
	T                 Time               `json:"t"`
	ID                string             `json:"id"`
	Encounter         string             `json:"encounter"`
	Protocol          string             `json:"protocol"`
	Started           Time               `json:"started"`
	Phases            map[string]string  `json:"phases"` // ISO 8601 durations, "PT41M"
	SpO2              Stat               `json:"spo2"`
	Pulse             Stat               `json:"pulse"`
	NIBP              NIBPStat           `json:"nibp"`
	Alarms            map[string]int     `json:"alarms"` // "condition/highest priority" -> count
	MinutesOutOfRange map[string]float64 `json:"minutes_out_of_range"`
	Marks             []Mark             `json:"marks"`
	GateOverrideBy    *string            `json:"gate_override_by"`
	// Discharge is the last discharge check, judged at the session's end;
	// null when the session never reached observation.
	Discharge *Discharge `json:"discharge"`
}

// Gap says records were dropped from the stream (the store was full).
type Gap struct {
	Record
	T       Time   `json:"t"`
	FromSeq uint64 `json:"from_seq"`
	ToSeq   uint64 `json:"to_seq"`
	Reason  string `json:"reason"`
}

// Reply answers a command (topic cmd/reply).
type Reply struct {
	V     int    `json:"v"`
	ID    string `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Durable is false (and otherwise absent) when the command took effect
	// but the chair could not save it: its store failed or hangs, so a
	// restart may undo it. The chair raises store_fault meanwhile.
	Durable *bool `json:"durable,omitempty"`
}

// Stamped is a record-stream payload: the store stamps its record fields when
// it commits it.
type Stamped interface {
	SetRecord(Record)
	GetRecord() Record
}

// SetRecord sets the record fields (promoted to every record payload).
func (r *Record) SetRecord(x Record) { *r = x }

// GetRecord gives the record fields.
func (r *Record) GetRecord() Record { return *r }

var (
	_ Stamped = (*Vital)(nil)
	_ Stamped = (*NIBP)(nil)
	_ Stamped = (*Alarm)(nil)
	_ Stamped = (*Session)(nil)
	_ Stamped = (*Summary)(nil)
	_ Stamped = (*Gap)(nil)
)
