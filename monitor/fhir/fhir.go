// Package fhir exports one chairside session as a FHIR R4 Bundle (type
// collection) of vital-signs Observations: SpO2, heart rate and blood
// pressure, with LOINC codes, MDC codes as extra codings, UCUM units, the
// chair and its sensors as Devices.
//
// The resources are a few hand-written structs holding only the elements
// chairside fills (no generated FHIR model is needed for that). A chair
// knows no patient's name: the subject is a Patient identified only by the
// session id, for the clinic to link to its own record.
package fhir

import (
	"cmp"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chairside/chairside/monitor/hl7"
	"github.com/chairside/chairside/monitor/wire"
)

// Code systems and identifier systems.
const (
	SystemLOINC        = "http://loinc.org"
	SystemMDC          = "urn:iso:std:iso:11073:10101"
	SystemUCUM         = "http://unitsofmeasure.org"
	SystemCategory     = "http://terminology.hl7.org/CodeSystem/observation-category"
	SystemAbsentReason = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
	// SystemRecord identifies an Observation by its record key
	// <chair>/<stream>/<seq>, so a re-import can be recognised
	// (conditional create on identifier).
	SystemRecord  = "urn:chairside:record"
	SystemSession = "urn:chairside:session"
	SystemChair   = "urn:chairside:chair"
	SystemSensor  = "urn:chairside:sensor"
)

// Vital-signs profiles (FHIR R4 core).
const (
	ProfileVitalSigns = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
	ProfileSpO2       = "http://hl7.org/fhir/StructureDefinition/oxygensat"
	ProfileHeartRate  = "http://hl7.org/fhir/StructureDefinition/heartrate"
	ProfileBP         = "http://hl7.org/fhir/StructureDefinition/bp"
)

// Coding is a code in a system.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is codings and text.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Quantity is a measured amount in UCUM.
type Quantity struct {
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	System string  `json:"system"`
	Code   string  `json:"code"`
}

// Reference points at another resource (here, a bundle entry's fullUrl).
type Reference struct {
	Reference string `json:"reference"`
	Display   string `json:"display,omitempty"`
}

// Identifier is a business identifier.
type Identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// Meta carries the profiles a resource claims.
type Meta struct {
	Profile []string `json:"profile,omitempty"`
}

// Annotation is a note.
type Annotation struct {
	Text string `json:"text"`
}

// Period is a time interval (a minute of medians).
type Period struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Component is one part of a panel (systolic, diastolic, mean).
type Component struct {
	Code             CodeableConcept  `json:"code"`
	ValueQuantity    *Quantity        `json:"valueQuantity,omitempty"`
	DataAbsentReason *CodeableConcept `json:"dataAbsentReason,omitempty"`
}

// Observation is one vital-signs observation. Exactly one of ValueQuantity,
// DataAbsentReason or Component is set: a null is never a number.
type Observation struct {
	ResourceType      string            `json:"resourceType"`
	ID                string            `json:"id"`
	Meta              *Meta             `json:"meta,omitempty"`
	Identifier        []Identifier      `json:"identifier,omitempty"`
	Status            string            `json:"status"`
	Category          []CodeableConcept `json:"category"`
	Code              CodeableConcept   `json:"code"`
	Subject           *Reference        `json:"subject,omitempty"`
	EffectiveDateTime string            `json:"effectiveDateTime,omitempty"`
	EffectivePeriod   *Period           `json:"effectivePeriod,omitempty"`
	ValueQuantity     *Quantity         `json:"valueQuantity,omitempty"`
	DataAbsentReason  *CodeableConcept  `json:"dataAbsentReason,omitempty"`
	Note              []Annotation      `json:"note,omitempty"`
	Method            *CodeableConcept  `json:"method,omitempty"`
	Device            *Reference        `json:"device,omitempty"`
	Component         []Component       `json:"component,omitempty"`
}

// DeviceName is a device's name.
type DeviceName struct {
	Name string `json:"name"`
	Type string `json:"type"` // user-friendly-name | model-name | ...
}

// Device is the chair, or a sensor in it (whose parent is the chair).
type Device struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Identifier   []Identifier `json:"identifier,omitempty"`
	DeviceName   []DeviceName `json:"deviceName,omitempty"`
	Parent       *Reference   `json:"parent,omitempty"`
}

// Patient is the subject, known only by the session id: no name, no
// birth date, nothing that identifies a person.
type Patient struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Identifier   []Identifier `json:"identifier"`
}

// Entry is one resource in the bundle.
type Entry struct {
	FullURL  string `json:"fullUrl"`
	Resource any    `json:"resource"`
}

// Bundle is the export: type collection.
type Bundle struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id"`
	Type         string      `json:"type"`
	Identifier   *Identifier `json:"identifier,omitempty"`
	Entry        []Entry     `json:"entry"`
}

// Session is what is exported: one chair's session and its records.
type Session struct {
	Chair   string
	Session wire.Session // the session's latest record (its id)
	Vitals  []wire.Vital // spo2 and pulse records, any order
	NIBP    []wire.NIBP
}

var (
	vitalSignsCategory = CodeableConcept{Coding: []Coding{{System: SystemCategory, Code: "vital-signs", Display: "Vital Signs"}}, Text: "Vital Signs"}

	codeSpO2 = CodeableConcept{Text: "SpO2", Coding: []Coding{
		{SystemLOINC, "2708-6", "Oxygen saturation in Arterial blood"},
		{SystemLOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"},
		{SystemMDC, "150456", "MDC_PULS_OXIM_SAT_O2"},
	}}
	codePulse = CodeableConcept{Text: "Pulse rate", Coding: []Coding{
		{SystemLOINC, "8867-4", "Heart rate"},
		{SystemMDC, "149530", "MDC_PULS_OXIM_PULS_RATE"},
	}}
	codeNIBPPulse = CodeableConcept{Text: "Pulse rate (cuff)", Coding: []Coding{
		{SystemLOINC, "8867-4", "Heart rate"},
		{SystemMDC, "149546", "MDC_PULS_RATE_NON_INV"},
	}}
	codeBP = CodeableConcept{Text: "Blood pressure", Coding: []Coding{
		{SystemLOINC, "85354-9", "Blood pressure panel with all children optional"},
		{SystemMDC, "150020", "MDC_PRESS_BLD_NONINV"},
	}}
	codeSys = CodeableConcept{Text: "Systolic", Coding: []Coding{
		{SystemLOINC, "8480-6", "Systolic blood pressure"},
		{SystemMDC, "150021", "MDC_PRESS_BLD_NONINV_SYS"},
	}}
	codeDia = CodeableConcept{Text: "Diastolic", Coding: []Coding{
		{SystemLOINC, "8462-4", "Diastolic blood pressure"},
		{SystemMDC, "150022", "MDC_PRESS_BLD_NONINV_DIA"},
	}}
	codeMean = CodeableConcept{Text: "Mean", Coding: []Coding{
		{SystemLOINC, "8478-0", "Mean blood pressure"},
		{SystemMDC, "150023", "MDC_PRESS_BLD_NONINV_MEAN"},
	}}
)

func quantity(v float64, unit, code string) *Quantity {
	return &Quantity{Value: v, Unit: unit, System: SystemUCUM, Code: code}
}

func percent(v float64) *Quantity { return quantity(v, "%", "%") }
func perMin(v float64) *Quantity  { return quantity(v, "beats/minute", "/min") }
func mmHg(v float64) *Quantity    { return quantity(v, "mmHg", "mm[Hg]") }

// absent gives the dataAbsentReason for a value that is not there: error
// for a failed measurement or a poor signal, unknown otherwise; the text
// says why (the flags or the module's error).
func absent(code, text string) *CodeableConcept {
	return &CodeableConcept{Coding: []Coding{{System: SystemAbsentReason, Code: code}}, Text: text}
}

var errorFlags = []string{"artifact", "out_of_track", "low_perfusion", "sensor_alarm"}

func vitalAbsent(flags []string) *CodeableConcept {
	code := "unknown"
	for _, f := range flags {
		if slices.Contains(errorFlags, f) {
			code = "error"
		}
	}
	text := "no valid value"
	if len(flags) > 0 {
		text += ": " + strings.Join(flags, ", ")
	}
	return absent(code, text)
}

// id makes a deterministic resource id (a name-based UUID, version 5 form,
// from the parts): the same records always export the same ids.
func id(parts ...string) string {
	h := sha1.Sum([]byte(strings.Join(parts, "\x00")))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func urn(id string) string { return "urn:uuid:" + id }

func noteFlags(flags []string) []Annotation {
	if len(flags) == 0 {
		return nil
	}
	return []Annotation{{Text: "flags: " + strings.Join(flags, ", ")}}
}

// Options choose how SpO2 and pulse are exported.
type Options struct {
	// Minutes exports SpO2 and pulse as one Observation per minute (the
	// median of its valid values, as the HL7 feed sends, with an
	// effectivePeriod) instead of one per one-second record: about 120
	// Observations an hour instead of 7 200.
	Minutes bool
}

// Export makes the bundle: the Patient (session id only), the chair's
// Device, one Device per sensor source, then an Observation per SpO2 and
// pulse record (by time; or per minute with Options.Minutes), a blood
// pressure panel per NIBP record and a heart rate Observation for each NIBP
// pulse that was measured. A record whose value is null (or not valid) gets
// a dataAbsentReason, never a value; a failed NIBP gets a panel whose
// components all say error, with the module's message. Records of another
// session, or without a time, are left out and named in the error; the
// bundle is returned all the same.
func Export(s Session, o Options) (Bundle, error) {
	sid := s.Session.ID
	if s.Chair == "" || sid == "" {
		return Bundle{}, errors.New("fhir export: chair and session id are needed")
	}
	b := Bundle{ResourceType: "Bundle", ID: id("bundle", s.Chair, sid), Type: "collection",
		Identifier: &Identifier{System: SystemSession, Value: s.Chair + "/" + sid}}
	patientID := id("patient", sid)
	b.Entry = append(b.Entry, Entry{urn(patientID), Patient{ResourceType: "Patient", ID: patientID,
		Identifier: []Identifier{{System: SystemSession, Value: sid}}}})
	chairID := id("device", s.Chair)
	b.Entry = append(b.Entry, Entry{urn(chairID), Device{ResourceType: "Device", ID: chairID,
		Identifier: []Identifier{{System: SystemChair, Value: s.Chair}},
		DeviceName: []DeviceName{{Name: s.Chair, Type: "user-friendly-name"}}}})
	sensors := map[string]string{}
	sensor := func(source string) *Reference {
		if source == "" {
			return &Reference{Reference: urn(chairID), Display: s.Chair}
		}
		if _, ok := sensors[source]; !ok {
			sensors[source] = id("device", s.Chair, source)
			b.Entry = append(b.Entry, Entry{urn(sensors[source]), Device{ResourceType: "Device", ID: sensors[source],
				Identifier: []Identifier{{System: SystemSensor, Value: s.Chair + "/" + source}},
				DeviceName: []DeviceName{{Name: source, Type: "model-name"}},
				Parent:     &Reference{Reference: urn(chairID), Display: s.Chair}}})
		}
		return &Reference{Reference: urn(sensors[source]), Display: s.Chair + " " + source}
	}
	subject := &Reference{Reference: urn(patientID), Display: "session " + sid}

	var errs []error
	var obs []Observation
	seen := map[string]bool{} // a record seen twice is exported once
	vitals := slices.Clone(s.Vitals)
	slices.SortStableFunc(vitals, func(x, y wire.Vital) int { return byTimeKey(x.T, y.T, x.Record, y.Record) })
	nibps := slices.Clone(s.NIBP)
	slices.SortStableFunc(nibps, func(x, y wire.NIBP) int { return byTimeKey(x.T, y.T, x.Record, y.Record) })
	base := func(key, profile string, code CodeableConcept, t wire.Time, source string) Observation {
		return Observation{ResourceType: "Observation", ID: id("observation", s.Chair, key),
			Meta:       &Meta{Profile: []string{profile}},
			Identifier: []Identifier{{System: SystemRecord, Value: s.Chair + "/" + key}},
			Status:     "final", Category: []CodeableConcept{vitalSignsCategory}, Code: code,
			Subject: subject, EffectiveDateTime: t.UTC().Format(wire.TimeLayout), Device: sensor(source)}
	}
	var placed []wire.Vital
	sources := map[string]map[string]bool{} // param -> sources seen
	for _, v := range vitals {
		key := fmt.Sprintf("%s/%d", v.Stream, v.Seq)
		if seen[key] {
			continue
		}
		seen[key] = true
		if v.Session != sid || v.T.IsZero() {
			errs = append(errs, fmt.Errorf("record %s: session %q, time %v: not of session %s or untimed", key, v.Session, v.T, sid))
			continue
		}
		if v.Param != "spo2" && v.Param != "pulse" {
			errs = append(errs, fmt.Errorf("record %s: param %q is not spo2 or pulse", key, v.Param))
			continue
		}
		placed = append(placed, v)
		if sources[v.Param] == nil {
			sources[v.Param] = map[string]bool{}
		}
		sources[v.Param][v.Source] = true
	}
	if o.Minutes {
		minutes, err := hl7.Minutes(placed)
		if err != nil {
			errs = append(errs, err) // not expected: the records were checked above
		}
		// A minute's median comes from the param's sensor when it had one.
		only := func(param string) string {
			if len(sources[param]) == 1 {
				for src := range sources[param] {
					return src
				}
			}
			return ""
		}
		for _, m := range minutes {
			start := wire.At(m.Start)
			for _, p := range []struct {
				param   string
				med     hl7.Median
				profile string
				code    CodeableConcept
				q       func(float64) *Quantity
			}{
				{"spo2", m.SpO2, ProfileSpO2, codeSpO2, percent},
				{"pulse", m.Pulse, ProfileHeartRate, codePulse, perMin},
			} {
				if p.med.Records == 0 {
					continue
				}
				ob := base("m/"+sid+"/"+m.Start.UTC().Format("200601021504")+"/"+p.param, p.profile, p.code, start, only(p.param))
				ob.EffectiveDateTime = ""
				ob.EffectivePeriod = &Period{Start: start.UTC().Format(wire.TimeLayout), End: m.Start.Add(time.Minute).UTC().Format(wire.TimeLayout)}
				ob.Method = &CodeableConcept{Text: "median of the minute's valid one-second values"}
				text := fmt.Sprintf("median of %d valid values in %d records", p.med.Valid, p.med.Records)
				if len(p.med.Flags) > 0 {
					text += "; flags: " + strings.Join(p.med.Flags, ", ")
				}
				if p.med.Value.Valid {
					ob.ValueQuantity = p.q(p.med.Value.V)
					ob.Note = []Annotation{{Text: text}}
				} else {
					ob.DataAbsentReason = vitalAbsent(p.med.Flags)
				}
				obs = append(obs, ob)
			}
		}
	}
	for _, v := range placed {
		if o.Minutes {
			break
		}
		key := fmt.Sprintf("%s/%d", v.Stream, v.Seq)
		var ob Observation
		if v.Param == "spo2" {
			ob = base(key, ProfileSpO2, codeSpO2, v.T, v.Source)
		} else {
			ob = base(key, ProfileHeartRate, codePulse, v.T, v.Source)
		}
		if hl7.Valid(v) {
			if v.Param == "spo2" {
				ob.ValueQuantity = percent(v.Value.V)
			} else {
				ob.ValueQuantity = perMin(v.Value.V)
			}
			ob.Note = noteFlags(v.Flags)
		} else {
			ob.DataAbsentReason = vitalAbsent(v.Flags)
		}
		obs = append(obs, ob)
	}
	for _, n := range nibps {
		key := fmt.Sprintf("%s/%d", n.Stream, n.Seq)
		if seen[key] {
			continue
		}
		seen[key] = true
		if n.Session != sid || n.T.IsZero() {
			errs = append(errs, fmt.Errorf("nibp record %s: session %q, time %v: not of session %s or untimed", key, n.Session, n.T, sid))
			continue
		}
		o := base(key, ProfileBP, codeBP, n.T, n.Source)
		comp := func(code CodeableConcept, v wire.Num) Component {
			c := Component{Code: code}
			switch {
			case n.Error != "":
				c.DataAbsentReason = absent("error", "NIBP failed: "+n.Error)
			case v.Valid:
				c.ValueQuantity = mmHg(v.V)
			default:
				c.DataAbsentReason = absent("unknown", "not reported by the NIBP module")
			}
			return c
		}
		o.Component = []Component{comp(codeSys, n.Systolic), comp(codeDia, n.Diastolic), comp(codeMean, n.Mean)}
		o.Note = noteFlags(n.Flags)
		obs = append(obs, o)
		if n.Error == "" && n.Pulse.Valid {
			p := base(key+"/pulse", ProfileHeartRate, codeNIBPPulse, n.T, n.Source)
			p.ValueQuantity = perMin(n.Pulse.V)
			obs = append(obs, p)
		}
	}
	slices.SortStableFunc(obs, func(x, y Observation) int { return strings.Compare(x.effective(), y.effective()) })
	for _, o := range obs {
		b.Entry = append(b.Entry, Entry{urn(o.ID), o})
	}
	return b, errors.Join(errs...)
}

// effective is the observation's time, or its period's start.
func (o Observation) effective() string {
	if o.EffectivePeriod != nil {
		return o.EffectivePeriod.Start
	}
	return o.EffectiveDateTime
}

// byTimeKey orders records by time, then stream and seq.
func byTimeKey(tx, ty wire.Time, x, y wire.Record) int {
	if c := tx.Compare(ty.Time); c != 0 {
		return c
	}
	if c := strings.Compare(x.Stream, y.Stream); c != 0 {
		return c
	}
	return cmp.Compare(x.Seq, y.Seq)
}

// JSON writes the bundle, indented, ending with a newline.
func (b Bundle) JSON() ([]byte, error) {
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("fhir: %w", err)
	}
	return append(out, '\n'), nil
}
