package hl7

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain 97 %":   "plain 97 %",
		"a|b":          `a\F\b`,
		"a^b":          `a\S\b`,
		"a~b":          `a\R\b`,
		"a&b":          `a\T\b`,
		`a\b`:          `a\E\b`,
		"a\rb\nc":      `a\X0D\b\X0A\c`,
		"\x0b\x1c\x7f": `\X0B\\X1C\\X7F\`,
		"é ✓":          "é ✓",
		"bad\xffutf8":  `bad\XFF\utf8`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
		if got := Unescape(want); got != in {
			t.Errorf("Unescape(%q) = %q, want %q", want, got, in)
		}
	}
}

// Escapes other systems send, and malformed ones, are read or kept as text.
func TestUnescapeOthers(t *testing.T) {
	for in, want := range map[string]string{
		`line\.br\two`:    "line\ntwo",
		`\X4142\`:         "AB",
		`\H\bold\N\`:      `\H\bold\N\`,
		`lone \ here`:     `lone \ here`,
		`\X4\`:            `\X4\`,
		`\XZZ\`:           `\XZZ\`,
		`trailing \`:      `trailing \`,
		`\F\\S\\T\\R\\E\`: `|^&~\`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzEscape: any text survives Escape then Unescape, and the escaped form
// holds no delimiter, control byte or invalid UTF-8 that would break a
// field, a segment or an MLLP frame.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a|b^c~d\\e&f", "\r\n\x0b\x1c", "é✓", "\xff\xfe", `\X0D\`, `\F\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := Escape(s)
		if got := Unescape(e); got != s {
			t.Fatalf("Unescape(Escape(%q)) = %q (escaped %q)", s, got, e)
		}
		if !utf8.ValidString(e) {
			t.Fatalf("Escape(%q) = %q is not UTF-8", s, e)
		}
		if strings.ContainsAny(e, "|^~&") {
			t.Fatalf("Escape(%q) = %q holds a delimiter", s, e)
		}
		for i := 0; i < len(e); i++ {
			if e[i] < 0x20 || e[i] == 0x7f {
				t.Fatalf("Escape(%q) = %q holds control byte 0x%02X", s, e, e[i])
			}
		}
		// Every backslash in the output opens or closes an escape.
		for rest := e; rest != ""; {
			i := strings.IndexByte(rest, '\\')
			if i < 0 {
				break
			}
			j := strings.IndexByte(rest[i+1:], '\\')
			if j < 0 {
				t.Fatalf("Escape(%q) = %q has an unclosed escape", s, e)
			}
			rest = rest[i+j+2:]
		}
	})
}
