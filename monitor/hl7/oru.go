package hl7

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chairside/chairside/monitor/wire"
)

// DefaultProfile is MSH-21, the IHE PCD-01 message profile id as Mindray
// and Philips devices send it (GE B40 sends PCD_DEC_001; Config.Profile
// overrides it).
var DefaultProfile = F("IHE_PCD_001", "IHE PCD", "1.3.6.1.4.1.19376.1.6.1.1.1", "ISO")

// Config is who sends and who receives (MSH-3 to MSH-6), from the
// recorder's [hl7] table.
type Config struct {
	SendingApplication   string
	SendingFacility      string
	ReceivingApplication string
	ReceivingFacility    string
	// Profile is MSH-21; DefaultProfile when nil.
	Profile Field
}

// maxNameLen bounds the names in Config: an HD namespace id is short.
const maxNameLen = 64

// maxControlIDLen is MSH-10's length in HL7 v2.6 (ST, 199).
const maxControlIDLen = 199

// Check refuses a config a receiver could not route: an empty sending
// application, or a name that is over-long or holds control characters.
func (c Config) Check() error {
	var errs []error
	for _, f := range []struct {
		name, v string
		need    bool
	}{
		{"sending_application", c.SendingApplication, true},
		{"sending_facility", c.SendingFacility, false},
		{"receiving_application", c.ReceivingApplication, false},
		{"receiving_facility", c.ReceivingFacility, false},
	} {
		switch {
		case f.v == "" && f.need:
			errs = append(errs, fmt.Errorf("%s is empty", f.name))
		case utf8.RuneCountInString(f.v) > maxNameLen:
			errs = append(errs, fmt.Errorf("%s is longer than %d characters", f.name, maxNameLen))
		case strings.IndexFunc(f.v, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
			errs = append(errs, fmt.Errorf("%s %q holds a control character", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}

// Codes (IEEE 11073-10101 MDC, the containment rows of PCD-01) and units
// (UCUM, as the MQTT payloads carry them).
var (
	codeMDS       = F("69965", "MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS", "MDC")
	codeOximVMD   = F("69798", "MDC_DEV_PULS_OXIM_VMD", "MDC")
	codeOximChan  = F("69799", "MDC_DEV_PULS_OXIM_CHAN", "MDC")
	codeSpO2      = F("150456", "MDC_PULS_OXIM_SAT_O2", "MDC")
	codePulseRate = F("149530", "MDC_PULS_OXIM_PULS_RATE", "MDC")
	codeNIBPVMD   = F("70686", "MDC_DEV_PRESS_BLD_NONINV_VMD", "MDC")
	codeNIBPChan  = F("70687", "MDC_DEV_PRESS_BLD_NONINV_CHAN", "MDC")
	codeSys       = F("150021", "MDC_PRESS_BLD_NONINV_SYS", "MDC")
	codeDia       = F("150022", "MDC_PRESS_BLD_NONINV_DIA", "MDC")
	codeMean      = F("150023", "MDC_PRESS_BLD_NONINV_MEAN", "MDC")
	codeNIBPPulse = F("149546", "MDC_PULS_RATE_NON_INV", "MDC")

	unitPercent = F("%", "%", "UCUM")
	unitPerMin  = F("/min", "/min", "UCUM")
	unitMMHg    = F("mm[Hg]", "mm[Hg]", "UCUM")

	codeMonitoring = F("182777000", "monitoring of patient", "SCT")
)

// OBX-11 result status: R (results entered, not verified: a device's
// reading), X (results cannot be obtained: the row stands for a value the
// chair did not have, and carries none).
const (
	statusValue   = "R"
	statusNoValue = "X"
)

// Timestamp writes an HL7 DTM in UTC to the second: 20261204101500+0000.
func Timestamp(t time.Time) string { return t.UTC().Format("20060102150405-0700") }

// MinuteControlID is the control id (MSH-10) of a minute's message:
// <chair>.m.<session>.<YYYYMMDDhhmm>. One chair, session and minute make one
// message, so a resend carries the same id and the receiver can drop it.
func MinuteControlID(chair, session string, start time.Time) string {
	return chair + ".m." + session + "." + start.UTC().Format("200601021504")
}

// NIBPControlID is the control id of a cuff measurement's message: its
// record key, <chair>.n.<stream>.<seq>.
func NIBPControlID(chair, stream string, seq uint64) string {
	return chair + ".n." + stream + "." + strconv.FormatUint(seq, 10)
}

// builder collects the segments of one ORU^R01.
type builder struct {
	cfg   Config
	chair string
	msg   Message
	obx   int
	nte   int
}

func newBuilder(cfg Config, chair, ctrl string, msgTime time.Time) (*builder, error) {
	if err := cfg.Check(); err != nil {
		return nil, fmt.Errorf("hl7 config: %w", err)
	}
	if chair == "" {
		return nil, errors.New("no chair")
	}
	if len(ctrl) > maxControlIDLen {
		return nil, fmt.Errorf("control id %q is longer than %d bytes", ctrl, maxControlIDLen)
	}
	profile := cfg.Profile
	if profile == nil {
		profile = DefaultProfile
	}
	b := &builder{cfg: cfg, chair: chair, msg: Message{ControlID: ctrl}}
	b.seg("MSH",
		F(cfg.SendingApplication), F(cfg.SendingFacility), // MSH-3, -4
		F(cfg.ReceivingApplication), F(cfg.ReceivingFacility), // MSH-5, -6
		F(Timestamp(msgTime)), nil, // MSH-7, -8
		F("ORU", "R01", "ORU_R01"), F(ctrl), F("P"), F("2.6"), // MSH-9 to -12
		nil, nil, F("NE"), F("AL"), // MSH-13 to -16: application acks always
		nil, F("UNICODE UTF-8"), nil, nil, profile) // MSH-17 to -21
	return b, nil
}

func (b *builder) seg(name string, fields ...Field) {
	b.msg.Segments = append(b.msg.Segments, Segment{Name: name, Fields: fields})
}

// patient writes PID (the session id as the patient identifier, PI) and PV1
// (the chair as the bed, the encounter as the visit number). Without a
// session there is no patient group at all.
func (b *builder) patient(session, encounter string) {
	if session == "" {
		return
	}
	b.seg("PID", nil, nil, F(session, "", "", b.cfg.SendingApplication, "PI"))
	pv1 := make([]Field, 19)
	pv1[1] = F("O")                                    // PV1-2 outpatient
	pv1[2] = F("", "", b.chair, b.cfg.SendingFacility) // PV1-3 bed = chair
	pv1[18] = F(encounter)                             // PV1-19 visit number
	b.seg("PV1", pv1...)
}

func (b *builder) obr(start, end time.Time) {
	id := F(b.msg.ControlID, b.cfg.SendingApplication)
	var endF Field
	if !end.IsZero() {
		endF = F(Timestamp(end))
	}
	b.seg("OBR", F("1"), id, id, codeMonitoring, nil, nil, F(Timestamp(start)), endF)
}

func (b *builder) note(text string) {
	b.nte++
	b.seg("NTE", F(strconv.Itoa(b.nte)), nil, F(text))
}

// device writes a containment row (MDS, VMD or channel): no value, OBX-11 X.
func (b *builder) device(code Field, containment string) {
	b.row(nil, code, containment, nil, nil, statusNoValue, time.Time{})
}

// metric writes a numeric row, or, for a null, a row with no value and
// OBX-11 X: a null is never written as a number.
func (b *builder) metric(code Field, containment string, v wire.Num, unit Field, at time.Time) {
	if !v.Valid {
		b.row(nil, code, containment, nil, unit, statusNoValue, at)
		return
	}
	b.row(F("NM"), code, containment, F(strconv.FormatFloat(v.V, 'f', -1, 64)), unit, statusValue, at)
}

func (b *builder) row(typ, code Field, containment string, value, unit Field, status string, at time.Time) {
	b.obx++
	f := make([]Field, 18)
	f[0] = F(strconv.Itoa(b.obx)) // OBX-1
	f[1] = typ                    // OBX-2
	f[2] = code                   // OBX-3
	f[3] = F(containment)         // OBX-4
	f[4] = value                  // OBX-5
	f[5] = unit                   // OBX-6
	f[10] = F(status)             // OBX-11
	if !at.IsZero() {
		f[13] = F(Timestamp(at)) // OBX-14
	}
	f[17] = F(b.chair, b.cfg.SendingApplication) // OBX-18 equipment = chair
	b.seg("OBX", f...)
}

// MinuteMessage builds the ORU^R01 for one minute's SpO2 and pulse medians
// of a chair. Both rows are always written: a parameter with no valid value
// in the minute gets a row with no value and OBX-11 X, and an NTE says why
// (the flags seen). OBR-7 and OBR-8 are the minute's bounds.
func MinuteMessage(cfg Config, chair, encounter string, m Minute) (Message, error) {
	if m.Session == "" {
		return Message{}, errors.New("minute: no session")
	}
	if m.Start.IsZero() {
		return Message{}, errors.New("minute: no start time")
	}
	start := m.Start.UTC()
	end := start.Add(time.Minute)
	last := m.Last
	if last.IsZero() {
		last = start
	}
	b, err := newBuilder(cfg, chair, MinuteControlID(chair, m.Session, start), last)
	if err != nil {
		return Message{}, fmt.Errorf("minute %s of %s: %w", start.Format(time.RFC3339), m.Session, err)
	}
	b.patient(m.Session, encounter)
	b.obr(start, end)
	if m.ClockUnsynced {
		b.note("chair clock not synchronised: times may be wrong")
	}
	b.device(codeMDS, "1.0.0.0")
	b.device(codeOximVMD, "1.1.0.0")
	b.device(codeOximChan, "1.1.1.0")
	b.metric(codeSpO2, "1.1.1.1", m.SpO2.Value, unitPercent, start)
	b.note(describeMedian("SpO2", m.SpO2))
	b.metric(codePulseRate, "1.1.1.2", m.Pulse.Value, unitPerMin, start)
	b.note(describeMedian("pulse", m.Pulse))
	return b.msg, nil
}

func describeMedian(name string, m Median) string {
	var s string
	switch {
	case m.Records == 0:
		s = "no " + name + " record in this minute"
	case !m.Value.Valid:
		s = fmt.Sprintf("no valid %s value in %d records", name, m.Records)
	default:
		s = fmt.Sprintf("%s median of %d valid values in %d records", name, m.Valid, m.Records)
	}
	if len(m.Flags) > 0 {
		s += "; flags: " + strings.Join(m.Flags, ", ")
	}
	return s
}

// NIBPMessage builds the ORU^R01 for one cuff measurement. A failed one
// (Error set) is still sent: its pressure rows carry no value (OBX-11 X),
// even if numbers came with the error, and an NTE gives the error. Each
// null pressure of a successful one is such a row too.
func NIBPMessage(cfg Config, chair, encounter string, n wire.NIBP) (Message, error) {
	if n.Stream == "" {
		return Message{}, errors.New("nibp: no stream (not a record)")
	}
	if n.T.IsZero() {
		return Message{}, fmt.Errorf("nibp %s/%d: no time", n.Stream, n.Seq)
	}
	at := n.T.UTC()
	b, err := newBuilder(cfg, chair, NIBPControlID(chair, n.Stream, n.Seq), at)
	if err != nil {
		return Message{}, fmt.Errorf("nibp %s/%d: %w", n.Stream, n.Seq, err)
	}
	b.patient(n.Session, encounter)
	b.obr(at, time.Time{})
	sys, dia, mean, pulse := n.Systolic, n.Diastolic, n.Mean, n.Pulse
	if n.Error != "" {
		b.note("NIBP failed: " + n.Error)
		sys, dia, mean, pulse = wire.Num{}, wire.Num{}, wire.Num{}, wire.Num{}
	}
	if !n.ClockSynced {
		b.note("chair clock not synchronised: times may be wrong")
	}
	if len(n.Flags) > 0 {
		b.note("flags: " + strings.Join(n.Flags, ", "))
	}
	b.device(codeMDS, "1.0.0.0")
	b.device(codeNIBPVMD, "1.2.0.0")
	b.device(codeNIBPChan, "1.2.1.0")
	b.metric(codeSys, "1.2.1.1", sys, unitMMHg, at)
	b.metric(codeDia, "1.2.1.2", dia, unitMMHg, at)
	b.metric(codeMean, "1.2.1.3", mean, unitMMHg, at)
	b.metric(codeNIBPPulse, "1.2.1.4", pulse, unitPerMin, at)
	return b.msg, nil
}
