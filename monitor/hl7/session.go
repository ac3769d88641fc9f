package hl7

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

// SessionMessages builds every message of a chair's records, in time
// order: a minute message per session and minute that has SpO2 or pulse
// records, an NIBP message per cuff measurement (a record seen twice gives
// one message). It is what `recorder export -format hl7` writes, and the
// same messages, byte for byte, as the live forwarding sends. Records that
// cannot be used are named in the error; the others' messages are returned.
func SessionMessages(cfg Config, chair, encounter string, vitals []wire.Vital, nibps []wire.NIBP) ([]Message, error) {
	type timed struct {
		t   time.Time
		msg Message
	}
	var out []timed
	var errs []error
	minutes, err := Minutes(vitals)
	if err != nil {
		errs = append(errs, err)
	}
	for _, m := range minutes {
		msg, err := MinuteMessage(cfg, chair, encounter, m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// A minute's message is due at its end; an NIBP at its time.
		out = append(out, timed{m.Start.Add(time.Minute), msg})
	}
	seen := map[string]bool{}
	for _, n := range nibps {
		msg, err := NIBPMessage(cfg, chair, encounter, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[msg.ControlID] {
			continue
		}
		seen[msg.ControlID] = true
		out = append(out, timed{n.T.UTC(), msg})
	}
	slices.SortStableFunc(out, func(a, b timed) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return cmp.Compare(a.msg.ControlID, b.msg.ControlID)
	})
	msgs := make([]Message, len(out))
	for i, o := range out {
		msgs[i] = o.msg
	}
	if err := errors.Join(errs...); err != nil {
		return msgs, fmt.Errorf("hl7: %w", err)
	}
	return msgs, nil
}
