package hl7

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// The encoding characters chairside writes in MSH-2 (the HL7 defaults).
const (
	fieldSep        = '|'
	componentSep    = '^'
	repetitionSep   = '~'
	escapeChar      = '\\'
	subcomponentSep = '&'
	encodingChars   = `^~\&`
)

// Escape makes s safe as one HL7 component: the delimiters become \F\ \S\
// \R\ \T\ \E\, and every byte that could break a segment or an MLLP frame
// (CR, LF, the other C0 controls, DEL, and bytes that are not UTF-8) becomes
// a hex escape \Xhh\. The result is printable UTF-8; Unescape gives s back.
func Escape(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		c := s[i]
		switch {
		case r == utf8.RuneError && size <= 1:
			writeHex(&b, c)
		case c == fieldSep:
			b.WriteString(`\F\`)
		case c == componentSep:
			b.WriteString(`\S\`)
		case c == repetitionSep:
			b.WriteString(`\R\`)
		case c == subcomponentSep:
			b.WriteString(`\T\`)
		case c == escapeChar:
			b.WriteString(`\E\`)
		case c < 0x20 || c == 0x7f:
			writeHex(&b, c)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func writeHex(b *strings.Builder, c byte) {
	const hexDigits = "0123456789ABCDEF"
	b.WriteString(`\X`)
	b.WriteByte(hexDigits[c>>4])
	b.WriteByte(hexDigits[c&0xf])
	b.WriteByte('\\')
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || strings.IndexByte(`|^~\&`, c) >= 0 {
			return true
		}
	}
	return !utf8.ValidString(s)
}

// Unescape reverses Escape, and reads the escapes another system may send
// in an acknowledgement: \F\ \S\ \R\ \T\ \E\, \Xhh...\ (any number of hex
// pairs), and \.br\ as a line break. Other escapes (highlighting, character
// sets) and a lone backslash are kept as they are: Unescape never fails.
func Unescape(s string) string {
	if strings.IndexByte(s, escapeChar) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if s[i] != escapeChar {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i+1:], escapeChar)
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		seq := s[i+1 : i+1+end]
		if out, ok := unescapeSeq(seq); ok {
			b.WriteString(out)
		} else {
			b.WriteString(s[i : i+end+2])
		}
		i += end + 2
	}
	return b.String()
}

func unescapeSeq(seq string) (string, bool) {
	switch seq {
	case "F":
		return "|", true
	case "S":
		return "^", true
	case "R":
		return "~", true
	case "T":
		return "&", true
	case "E":
		return `\`, true
	case ".br":
		return "\n", true
	}
	if len(seq) >= 3 && seq[0] == 'X' && len(seq)%2 == 1 {
		out := make([]byte, 0, len(seq)/2)
		for j := 1; j < len(seq); j += 2 {
			v, err := strconv.ParseUint(seq[j:j+2], 16, 8)
			if err != nil {
				return "", false
			}
			out = append(out, byte(v))
		}
		return string(out), true
	}
	return "", false
}
