package station

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

// Station conditions (CONTRACT §5).
const (
	CondChairOffline   = "chair_offline"
	CondRecordsMissing = "records_missing"
	CondLinkDown       = "station_link_down"
)

// DefaultHoleTimeout is how long a seq hole may stay unfilled before its
// records count as missing (CONTRACT §5).
const DefaultHoleTimeout = 60 * time.Second

// DefaultMaxChairs bounds the chairs the station keeps: topics of more
// made-up chairs are refused, so a flood cannot grow it without end.
const DefaultMaxChairs = 2000

// Config sets the model's timers.
type Config struct {
	Prefix       string        // topic prefix, "chairside"
	OfflineAfter time.Duration // no heartbeat this long: chair_offline
	HoleTimeout  time.Duration // default DefaultHoleTimeout
	MaxChairs    int           // default DefaultMaxChairs
}

// StationAlarm is one of the station's own technical alarms, shown with the
// chair's.
type StationAlarm struct {
	ID        string    `json:"id"`
	Condition string    `json:"condition"`
	Priority  string    `json:"priority"`
	Kind      string    `json:"kind"`
	Since     wire.Time `json:"since"`
	Message   string    `json:"message"`
}

// Chair is the CHAIR object of the API (CONTRACT §5). The payloads are the
// chair's own, as parsed by monitor/wire; nothing here is made up.
type Chair struct {
	Chair          string         `json:"chair"`
	Online         bool           `json:"online"`
	LastSeen       wire.Time      `json:"last_seen"`
	Boot           uint64         `json:"boot"`
	Version        string         `json:"version"`
	Phase          string         `json:"phase"`
	Session        *wire.Session  `json:"session"`
	SpO2           *wire.Vital    `json:"spo2"`
	Pulse          *wire.Vital    `json:"pulse"`
	NIBP           *wire.NIBP     `json:"nibp"`
	Alarms         []wire.Alarm   `json:"alarms"`
	StationAlarms  []StationAlarm `json:"station_alarms"`
	RecordsMissing uint64         `json:"records_missing"`
	// Extensions: the chair's audio pause from its retained alarms, and the
	// last session summary (null until a session has ended).
	AudioPausedUntil wire.Time     `json:"audio_paused_until"`
	Summary          *wire.Summary `json:"summary"`
}

// LinkState is the station's own broker connection.
type LinkState struct {
	Connected bool
	Down      bool // down long enough to be station_link_down
	Since     time.Time
	Reason    string
}

// TrendPoint is one SpO2 or pulse value to store (value null where none).
type TrendPoint struct {
	Param string
	T     time.Time
	Value wire.Num
}

// Effect is what one message asks of the rest of the station: what to
// store, and a command reply to hand to the request waiting for it.
type Effect struct {
	Chair string
	Trend *TrendPoint
	NIBP  *wire.NIBP
	// Alarm is an alarm record and its payload as received, for the
	// history.
	Alarm    *wire.Alarm
	AlarmRaw []byte
	Reply    *wire.Reply
}

// Counts are what the model refused or ignored, for logs and tests.
type Counts struct {
	Accepted, Refused, Ignored, TooManyChairs uint64
}

var chairPattern = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// ValidChair reports whether s is a chair id the contract allows.
func ValidChair(s string) bool { return chairPattern.MatchString(s) }

// Model is every chair's state. Its methods are safe for concurrent use.
type Model struct {
	cfg Config

	mu     sync.Mutex
	chairs map[string]*chair
	link   LinkState
	dirty  map[string]bool // changed chairs; true: urgently
	urgent bool
	counts Counts
	notify chan struct{} // a wake-up when an urgent change waits
}

type chair struct {
	view      Chair
	stateSeen bool
	heard     time.Time // station time of the last heartbeat or live message
	will      bool      // the last state was a Will
	clean     bool      // the last state was a clean stop (online false, not a Will)

	offlineSince time.Time // zero while online
	streams      map[string]*seqTracker
	gapMissing   uint64 // records dropped by the chair (gap) in this session
	gapSession   string
	missingSince time.Time

	stationAlarms []StationAlarm
}

// NewModel makes an empty model.
func NewModel(cfg Config) *Model {
	if cfg.HoleTimeout == 0 {
		cfg.HoleTimeout = DefaultHoleTimeout
	}
	if cfg.MaxChairs == 0 {
		cfg.MaxChairs = DefaultMaxChairs
	}
	return &Model{cfg: cfg, chairs: map[string]*chair{}, dirty: map[string]bool{}, link: LinkState{Connected: true},
		notify: make(chan struct{}, 1)}
}

// ErrIgnored marks a message the station does not use (pleth, its own
// commands, a cleared retained topic): not an error to log.
var ErrIgnored = errors.New("ignored")

// SplitTopic gives the chair and suffix of <prefix>/<chair>/<suffix>.
func SplitTopic(prefix, topic string) (chairID, suffix string, err error) {
	rest, ok := strings.CutPrefix(topic, prefix+"/")
	if !ok {
		return "", "", fmt.Errorf("topic %q is not under %s/", topic, prefix)
	}
	chairID, suffix, ok = strings.Cut(rest, "/")
	if !ok || !ValidChair(chairID) {
		return "", "", fmt.Errorf("topic %q does not name a chair (a-z, 0-9, -; at most 32)", topic)
	}
	return chairID, suffix, nil
}

// Handle applies one MQTT message received at now. It returns what to store
// or hand on, or an error naming what was wrong with the message (the
// message is then refused whole and changes nothing); ErrIgnored for
// messages the station does not use.
func (m *Model) Handle(topic string, payload []byte, retained bool, now time.Time) (Effect, error) {
	id, suffix, err := SplitTopic(m.cfg.Prefix, topic)
	if err != nil {
		return Effect{}, m.refuse(err)
	}
	eff := Effect{Chair: id}
	switch suffix {
	case wire.TopicPleth, wire.TopicCmd:
		return eff, m.ignore()
	case wire.TopicCmdReply:
		r, err := wire.ParseReply(payload)
		if err != nil {
			return eff, m.refuse(fmt.Errorf("%s: %w", topic, err))
		}
		eff.Reply = &r
		return eff, nil
	}
	if len(payload) == 0 && retained {
		return eff, m.ignore() // a retained topic cleared by its owner
	}
	apply, err := parse(suffix, payload)
	if errors.Is(err, ErrIgnored) {
		return eff, m.ignore() // a topic the station does not read (a newer chair's)
	}
	if err != nil {
		return eff, m.refuse(fmt.Errorf("%s: %w", topic, err))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.chairs[id]
	if c == nil {
		if len(m.chairs) >= m.cfg.MaxChairs {
			m.counts.TooManyChairs++
			m.counts.Refused++
			return eff, fmt.Errorf("%s: more than %d chairs; refused", topic, m.cfg.MaxChairs)
		}
		c = &chair{view: Chair{Chair: id, Alarms: []wire.Alarm{}}, streams: map[string]*seqTracker{}}
		m.chairs[id] = c
	}
	m.counts.Accepted++
	if !retained {
		c.heard = now
		c.view.LastSeen = wire.At(now)
	}
	urgent := apply(c, &eff, retained, now)
	if m.evaluate(c, now) {
		urgent = true
	}
	m.dirty[id] = m.dirty[id] || urgent
	if urgent {
		m.setUrgent()
	}
	return eff, nil
}

func (m *Model) refuse(err error) error {
	m.mu.Lock()
	m.counts.Refused++
	m.mu.Unlock()
	return err
}

func (m *Model) ignore() error {
	m.mu.Lock()
	m.counts.Ignored++
	m.mu.Unlock()
	return ErrIgnored
}

// applier changes a chair; it reports whether the change is urgent (to be
// pushed to pages at once rather than with the next batch).
type applier func(c *chair, eff *Effect, retained bool, now time.Time) bool

// newer reports whether a record replaces the one shown. Arrival order is
// not record order (a backlog follows the live messages), so within one
// stream the higher seq wins. The chair's clock is not trusted for this: a
// clock set back (an NTP step on a Pi without a real-time clock) must never
// hide newer records behind older ones. A new stream (a new store) or a
// record without seq (sent while the store failed) replaces what is shown.
func newer(r wire.Record, cur wire.Record) bool {
	if r.Stream != cur.Stream || r.Seq == 0 || cur.Seq == 0 {
		return true
	}
	return r.Seq >= cur.Seq
}

func track(c *chair, r wire.Record, retained bool, now time.Time) {
	if r.Stream == "" {
		return
	}
	s := c.streams[r.Stream]
	if s == nil {
		if len(c.streams) >= 16 { // a chair makes a new stream only with a new store
			for k := range c.streams {
				delete(c.streams, k)
				break
			}
		}
		s = &seqTracker{}
		c.streams[r.Stream] = s
	}
	s.see(r.Seq, !retained, now)
}

// parse reads a payload by its topic suffix into a change of the chair.
func parse(suffix string, payload []byte) (applier, error) {
	switch suffix {
	case wire.TopicState:
		s, err := wire.ParseState(payload)
		if err != nil {
			return nil, err
		}
		return func(c *chair, _ *Effect, retained bool, now time.Time) bool {
			changed := c.view.Online != s.Online || !c.stateSeen
			c.stateSeen, c.will, c.clean = true, s.IsWill(), !s.Online && !s.IsWill()
			c.heard = now // the retained state at subscription counts as heard: the timer starts now
			c.view.Online, c.view.Boot, c.view.Version = s.Online, s.Boot, s.Version
			if retained && !s.T.IsZero() {
				c.view.LastSeen = s.T // when the chair said it, not when the broker replayed it
			}
			if !s.IsWill() && s.Phase != "" {
				c.view.Phase = s.Phase
			}
			return changed
		}, nil
	case wire.TopicSpO2, wire.TopicPulse:
		param := strings.TrimPrefix(suffix, "vitals/")
		v, err := wire.ParseVital(payload, param)
		if err != nil {
			return nil, err
		}
		return func(c *chair, eff *Effect, retained bool, now time.Time) bool {
			track(c, v.Record, retained, now)
			slot := &c.view.SpO2
			if param == "pulse" {
				slot = &c.view.Pulse
			}
			if *slot == nil || newer(v.Record, (*slot).Record) {
				*slot = &v
			}
			eff.Trend = &TrendPoint{Param: param, T: v.T.Time, Value: v.Value}
			return false
		}, nil
	case wire.TopicNIBP:
		n, err := wire.ParseNIBP(payload)
		if err != nil {
			return nil, err
		}
		return func(c *chair, eff *Effect, retained bool, now time.Time) bool {
			track(c, n.Record, retained, now)
			if c.view.NIBP == nil || newer(n.Record, c.view.NIBP.Record) {
				c.view.NIBP = &n
			}
			eff.NIBP = &n
			return true
		}, nil
	case wire.TopicAlarm:
		a, err := wire.ParseAlarm(payload)
		if err != nil {
			return nil, err
		}
		raw := append([]byte(nil), payload...)
		return func(c *chair, eff *Effect, retained bool, now time.Time) bool {
			track(c, a.Record, retained, now)
			eff.Alarm, eff.AlarmRaw = &a, raw
			return false // the retained list that follows is what the tile shows
		}, nil
	case wire.TopicAlarms:
		l, err := wire.ParseAlarms(payload)
		if err != nil {
			return nil, err
		}
		return func(c *chair, _ *Effect, _ bool, _ time.Time) bool {
			// Live state without seq: the last to arrive is the chair's
			// latest (one client's messages keep their order, and a
			// retained copy is the last one the broker has). Its t is
			// not compared: a chair clock set back must not freeze the
			// list.
			if l.Alarms == nil {
				l.Alarms = []wire.Alarm{}
			}
			c.view.Alarms, c.view.AudioPausedUntil = l.Alarms, l.AudioPausedUntil
			return true
		}, nil
	case wire.TopicSession:
		s, err := wire.ParseSession(payload)
		if err != nil {
			return nil, err
		}
		return func(c *chair, _ *Effect, retained bool, now time.Time) bool {
			track(c, s.Record, retained, now)
			if c.view.Session != nil && !newer(s.Record, c.view.Session.Record) {
				return false
			}
			c.view.Session = &s
			c.view.Phase = s.Phase
			return true
		}, nil
	case wire.TopicSummary:
		s, err := wire.ParseSummary(payload)
		if err != nil {
			return nil, err
		}
		return func(c *chair, _ *Effect, retained bool, now time.Time) bool {
			track(c, s.Record, retained, now)
			if c.view.Summary == nil || newer(s.Record, c.view.Summary.Record) {
				c.view.Summary = &s
			}
			return true
		}, nil
	case wire.TopicGap:
		g, err := wire.ParseGap(payload)
		if err != nil {
			return nil, err
		}
		return func(c *chair, _ *Effect, retained bool, now time.Time) bool {
			track(c, g.Record, retained, now)
			c.gapMissing += g.ToSeq - g.FromSeq + 1
			return true
		}, nil
	}
	return nil, fmt.Errorf("%w: topic suffix %q is not one the station reads", ErrIgnored, suffix)
}

// inSession reports whether the chair has a session now, as far as the
// station knows.
func (c *chair) inSession() bool {
	switch c.view.Phase {
	case "baseline", "infusion", "observation":
		return true
	}
	return false
}

// evaluate recomputes the chair's station conditions at now; it reports
// whether they changed.
func (m *Model) evaluate(c *chair, now time.Time) bool {
	var out []StationAlarm
	// chair_offline
	var why string
	switch {
	case c.stateSeen && c.will:
		why = "its connection to the broker died (MQTT Will)"
	case c.stateSeen && c.clean:
		why = "it stopped (state online false)"
	case !c.heard.IsZero() && now.Sub(c.heard) >= m.cfg.OfflineAfter && m.link.Connected:
		// While the station's own link is down its silence is
		// station_link_down, not every chair going offline.
		why = fmt.Sprintf("no heartbeat for %s", m.cfg.OfflineAfter)
	}
	if why != "" {
		if c.offlineSince.IsZero() {
			c.offlineSince = now
		}
		prio := "low"
		if c.inSession() {
			prio = "medium"
		}
		out = append(out, m.alarm(c, CondChairOffline, prio, c.offlineSince,
			fmt.Sprintf("%s offline: %s; its values are not current", c.view.Chair, why)))
	} else {
		c.offlineSince = time.Time{}
	}
	// records_missing: holes past the timeout, and gap records of this session.
	sess := ""
	if c.view.Session != nil {
		sess = c.view.Session.ID
	}
	if sess != c.gapSession {
		c.gapSession, c.gapMissing = sess, 0
		for _, s := range c.streams {
			s.holes = s.holes[:0] // a new session: the old holes are history
		}
	}
	missing := c.gapMissing
	for _, s := range c.streams {
		missing += s.overdue(now, m.cfg.HoleTimeout)
	}
	c.view.RecordsMissing = missing
	if missing > 0 {
		if c.missingSince.IsZero() {
			c.missingSince = now
		}
		out = append(out, m.alarm(c, CondRecordsMissing, "low", c.missingSince,
			fmt.Sprintf("%s: %d records missing (not received within %s, or dropped by the chair); trends have holes", c.view.Chair, missing, m.cfg.HoleTimeout)))
	} else {
		c.missingSince = time.Time{}
	}
	if m.link.Down {
		out = append(out, m.alarm(c, CondLinkDown, "high", m.link.Since,
			"the station cannot reach the broker: no chair can be seen; "+m.link.Reason))
	}
	if out == nil {
		out = []StationAlarm{}
	}
	changed := !slices.Equal(out, c.stationAlarms)
	c.stationAlarms = out
	c.view.StationAlarms = out
	c.view.Online = c.stateSeen && !c.will && !c.clean && why == ""
	return changed
}

func (m *Model) alarm(c *chair, cond, prio string, since time.Time, msg string) StationAlarm {
	return StationAlarm{ID: fmt.Sprintf("st-%s-%s-%d", cond, c.view.Chair, since.UnixMilli()), Condition: cond,
		Priority: prio, Kind: wire.KindTechnical, Since: wire.At(since), Message: msg}
}

// setUrgent (under mu) marks an urgent change and wakes the reader.
func (m *Model) setUrgent() {
	m.urgent = true
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

// Notify wakes its reader when an urgent change waits: read TakeChanged
// then, and at least every few hundred milliseconds for the rest.
func (m *Model) Notify() <-chan struct{} { return m.notify }

// Tick runs the station's timers at now (call it about once a second).
func (m *Model) Tick(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, c := range m.chairs {
		if m.evaluate(c, now) {
			m.dirty[id] = true
			m.setUrgent()
		}
	}
}

// SetLink reports the station's own broker connection.
func (m *Model) SetLink(s LinkState, now time.Time) {
	m.mu.Lock()
	changed := m.link != s
	if s.Connected && !m.link.Connected {
		// Back: every chair gets offline_after to be heard again (the
		// broker replays the retained states at once).
		for _, c := range m.chairs {
			if !c.heard.IsZero() {
				c.heard = now
			}
		}
	}
	m.link = s
	m.mu.Unlock()
	if changed {
		m.Tick(now)
	}
}

// Link is the station's broker connection as last reported.
func (m *Model) Link() LinkState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.link
}

// LinkAlarm is station_link_down when it is raised.
func (m *Model) LinkAlarm() []StationAlarm {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.link.Down {
		return []StationAlarm{}
	}
	return []StationAlarm{{ID: fmt.Sprintf("st-%s-%d", CondLinkDown, m.link.Since.UnixMilli()), Condition: CondLinkDown,
		Priority: "high", Kind: wire.KindTechnical, Since: wire.At(m.link.Since),
		Message: "the station cannot reach the broker: no chair can be seen; " + m.link.Reason}}
}

// Chairs returns every chair, by id.
func (m *Model) Chairs() []Chair {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Chair, 0, len(m.chairs))
	for _, c := range m.chairs {
		out = append(out, c.view)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Chair < out[j].Chair })
	return out
}

// Chair returns one chair.
func (m *Model) Chair(id string) (Chair, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.chairs[id]
	if !ok {
		return Chair{}, false
	}
	return c.view, true
}

// TakeChanged returns the chairs changed since the last call, by id, and
// whether any change was urgent (an alarm, a station condition, a session
// step, a chair going on- or offline).
func (m *Model) TakeChanged() ([]Chair, bool) { return m.take(false) }

// TakeUrgent returns only the chairs changed urgently since they were last
// taken: an alarm goes out at once without waiting for the encoding of
// every chair whose vitals moved.
func (m *Model) TakeUrgent() []Chair {
	out, _ := m.take(true)
	return out
}

func (m *Model) take(onlyUrgent bool) ([]Chair, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.dirty) == 0 {
		return nil, false
	}
	out := make([]Chair, 0, len(m.dirty))
	for id, urgent := range m.dirty {
		if onlyUrgent && !urgent {
			continue
		}
		out = append(out, m.chairs[id].view)
		delete(m.dirty, id)
	}
	urgent := m.urgent
	m.urgent = false
	sort.Slice(out, func(i, j int) bool { return out[i].Chair < out[j].Chair })
	return out, urgent
}

// Urgent reports whether an urgent change waits (without taking it).
func (m *Model) Urgent() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.urgent
}

// Counts returns the counters.
func (m *Model) Counts() Counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts
}

// MarshalChair encodes a chair with "v":1 first, as every API object.
func MarshalChair(c Chair) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return append([]byte(`{"v":1,`), b[1:]...), nil
}
