package hl7

import (
	"bytes"
	"strings"
)

// Field is one HL7 field as its components, each written escaped. Trailing
// empty components are left out, as HL7 asks.
type Field []string

// F makes a field of components.
func F(components ...string) Field { return Field(components) }

// Segment is one segment: its name (MSH, PID, OBX...) and its fields from
// field 1 on. For MSH, field 1 and 2 (the separators) are written by the
// builder and Fields starts at MSH-3.
type Segment struct {
	Name   string
	Fields []Field
}

// Message is one HL7 message ready to frame: its segments and the control id
// (MSH-10) its acknowledgement must name.
type Message struct {
	ControlID string
	Segments  []Segment
	stored    []byte
}

// Stored is a message built earlier and kept as bytes (the recorder's
// outbox): Bytes gives them back unchanged, so a resend is the same bytes.
func Stored(controlID string, b []byte) Message {
	return Message{ControlID: controlID, stored: b}
}

// Bytes writes the message: segments each ended by CR, fields escaped,
// trailing empty fields and components left out (or a Stored message's
// bytes as kept).
func (m Message) Bytes() []byte {
	if m.stored != nil {
		return m.stored
	}
	var b bytes.Buffer
	for _, s := range m.Segments {
		b.WriteString(s.Name)
		fields := s.Fields
		if s.Name == "MSH" {
			b.WriteByte(fieldSep)
			b.WriteString(encodingChars)
		}
		for len(fields) > 0 && fields[len(fields)-1].empty() {
			fields = fields[:len(fields)-1]
		}
		for _, f := range fields {
			b.WriteByte(fieldSep)
			f.write(&b)
		}
		b.WriteByte('\r')
	}
	return b.Bytes()
}

// String is Bytes with the segment ends shown as newlines, for logs and
// exports read by people.
func (m Message) String() string {
	return strings.ReplaceAll(string(m.Bytes()), "\r", "\n")
}

func (f Field) empty() bool {
	for _, c := range f {
		if c != "" {
			return false
		}
	}
	return true
}

func (f Field) write(b *bytes.Buffer) {
	n := len(f)
	for n > 0 && f[n-1] == "" {
		n--
	}
	for i, c := range f[:n] {
		if i > 0 {
			b.WriteByte(componentSep)
		}
		b.WriteString(Escape(c))
	}
}
