package hl7

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Ack is a receiver's acknowledgement (MSA, and ERR when present).
type Ack struct {
	// Code is MSA-1: AA, AE, AR (original mode) or CA, CE, CR (enhanced).
	Code string
	// ControlID is MSA-2: the control id of the message acknowledged.
	ControlID string
	// Reason is what the receiver said about an error: MSA-3 and the ERR
	// segments' texts, joined; control characters become spaces.
	Reason string
}

// Accepted reports AA or CA: the receiver took the message.
func (a Ack) Accepted() bool { return a.Code == "AA" || a.Code == "CA" }

// Rejected reports AR or CR: the receiver refused the message as such (a
// resend of the same bytes will be refused again).
func (a Ack) Rejected() bool { return a.Code == "AR" || a.Code == "CR" }

// Errored reports AE or CE: the receiver could not process the message.
func (a Ack) Errored() bool { return a.Code == "AE" || a.Code == "CE" }

// maxReason bounds the reason kept from an acknowledgement.
const maxReason = 1000

// ParseAck reads an acknowledgement: an MSH segment (whose MSH-1 and MSH-2
// give the delimiters) and an MSA segment, with optional ERR segments.
// Segments may end with CR, LF or CRLF. It refuses anything else with an
// error naming what is wrong; it never panics.
func ParseAck(b []byte) (Ack, error) {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\r"))
	b = bytes.ReplaceAll(b, []byte("\n"), []byte("\r"))
	segs := bytes.Split(b, []byte("\r"))
	if len(segs) == 0 || !bytes.HasPrefix(segs[0], []byte("MSH")) {
		return Ack{}, errors.New("ack: does not start with an MSH segment")
	}
	msh := segs[0]
	if len(msh) < 8 {
		return Ack{}, errors.New("ack: MSH segment too short for its delimiters")
	}
	d := delims{field: msh[3], component: msh[4], repetition: msh[5], escape: msh[6], sub: msh[7]}
	if err := d.check(); err != nil {
		return Ack{}, fmt.Errorf("ack: MSH: %w", err)
	}
	var a Ack
	var msa bool
	var reasons []string
	for _, s := range segs[1:] {
		if len(s) == 0 {
			continue
		}
		fields := bytes.Split(s, []byte{d.field})
		switch string(fields[0]) {
		case "MSA":
			if msa {
				return Ack{}, errors.New("ack: more than one MSA segment")
			}
			msa = true
			a.Code = d.text(field(fields, 1))
			a.ControlID = d.text(field(fields, 2))
			if t := d.text(field(fields, 3)); t != "" {
				reasons = append(reasons, t)
			}
		case "ERR":
			// ERR-8 user message and ERR-3 error code (v2.5+), or ERR-1
			// (error code and location, before v2.5).
			for _, i := range []int{8, 3, 1} {
				if t := d.text(field(fields, i)); t != "" {
					reasons = append(reasons, t)
					break
				}
			}
		}
	}
	if !msa {
		return Ack{}, errors.New("ack: no MSA segment")
	}
	switch a.Code {
	case "AA", "AE", "AR", "CA", "CE", "CR":
	case "":
		return Ack{}, errors.New("ack: MSA-1 (acknowledgement code) is empty")
	default:
		return Ack{}, fmt.Errorf("ack: MSA-1 %q is not AA, AE, AR, CA, CE or CR", clean(a.Code, 20))
	}
	if a.ControlID == "" {
		return Ack{}, errors.New("ack: MSA-2 (control id) is empty")
	}
	a.Reason = clean(strings.Join(reasons, "; "), maxReason)
	return a, nil
}

func field(fields [][]byte, i int) []byte {
	if i < len(fields) {
		return fields[i]
	}
	return nil
}

type delims struct{ field, component, repetition, escape, sub byte }

func (d delims) check() error {
	all := []byte{d.field, d.component, d.repetition, d.escape, d.sub}
	for i, c := range all {
		if c < 0x21 || c > 0x7e || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') {
			return fmt.Errorf("delimiter 0x%02X is not a printable punctuation character", c)
		}
		if bytes.IndexByte(all[:i], c) >= 0 {
			return fmt.Errorf("delimiter %q is used twice", c)
		}
	}
	return nil
}

// text gives a field as plain text: its components, repetitions and
// subcomponents joined by spaces, unescaped.
func (d delims) text(f []byte) string {
	if len(f) == 0 {
		return ""
	}
	// Map this message's delimiters to the defaults Unescape reads.
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch c {
		case d.component, d.repetition, d.sub:
			b.WriteByte(' ')
		case d.escape:
			b.WriteByte('\\')
		case '\\':
			b.WriteString(`\E\`)
		default:
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(Unescape(b.String()))
}

// clean makes outside text safe for logs and screens: valid UTF-8, no
// control or format characters, at most max runes.
func clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n >= max {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(r) {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
