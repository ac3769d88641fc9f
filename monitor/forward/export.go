package forward

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/chairside/chairside/monitor/archive"
	"github.com/chairside/chairside/monitor/fhir"
	"github.com/chairside/chairside/monitor/hl7"
	"github.com/chairside/chairside/monitor/wire"
)

// Chairs lists the chairs with records in recs, in order of first
// appearance. A session id is unique per chair only (chairs that start a
// session in the same second make the same id), so an export names the
// chair when there are several.
func Chairs(recs []archive.StoredRecord) []string {
	var chairs []string
	for _, r := range recs {
		if !slices.Contains(chairs, r.Chair) {
			chairs = append(chairs, r.Chair)
		}
	}
	return chairs
}

// sessionParts splits one chair's session's stored records
// (archive.SessionRecords) into what the formats take: the chair, the
// latest session record, the SpO2 and pulse records and the NIBPs.
func sessionParts(session string, recs []archive.StoredRecord) (chair string, s wire.Session, vitals []wire.Vital, nibps []wire.NIBP, err error) {
	chairs := Chairs(recs)
	switch len(chairs) {
	case 0:
		return "", s, nil, nil, fmt.Errorf("no records of session %q", session)
	case 1:
	default:
		return "", s, nil, nil, fmt.Errorf("session %q has records of several chairs %v: name one (-chair)", session, chairs)
	}
	var latest *archive.StoredRecord
	for i, r := range recs {
		if r.Kind == archive.KindSession && (latest == nil || !r.T.Before(latest.T)) {
			latest = &recs[i]
		}
	}
	s.ID = session
	if latest != nil {
		if err := json.Unmarshal(latest.Payload, &s); err != nil {
			return "", s, nil, nil, fmt.Errorf("session record %s/%s/%d: %w", latest.Chair, latest.Stream, latest.Seq, err)
		}
	}
	vitals, nibps, err = decode(recs)
	return chairs[0], s, vitals, nibps, err
}

// SessionMessages are a session's HL7 messages as `recorder export -format
// hl7` writes them: the same builder, and so the same bytes, as the live
// forwarding for every minute that got no record after its message was
// queued (hl7.SessionMessages: in time order, a minute's at its end).
func SessionMessages(cfg hl7.Config, session string, recs []archive.StoredRecord) ([]hl7.Message, error) {
	chair, s, vitals, nibps, err := sessionParts(session, recs)
	if chair == "" {
		return nil, err
	}
	msgs, merr := hl7.SessionMessages(cfg, chair, s.Encounter, vitals, nibps)
	return msgs, errors.Join(err, merr)
}

// SessionBundle is a session as a FHIR R4 Bundle (fhir.Export).
func SessionBundle(session string, recs []archive.StoredRecord, o fhir.Options) (fhir.Bundle, error) {
	chair, s, vitals, nibps, err := sessionParts(session, recs)
	if chair == "" {
		return fhir.Bundle{}, err
	}
	b, ferr := fhir.Export(fhir.Session{Chair: chair, Session: s, Vitals: vitals, NIBP: nibps}, o)
	return b, errors.Join(err, ferr)
}
