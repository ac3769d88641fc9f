package main

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// logText escapes s for one field of a tab-separated line on a terminal:
// printable characters stay (accents and all), and everything else (tab, newline, ESC, C1 controls, bidi overrides, invalid
// UTF-8) is written as a Go-style escape: \t, \n, \x1b, \u202e. A backslash
// is left as it is: the point is that no entry can break its line or reach
// the terminal, not that the escapes can be undone.
func logText(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case unicode.IsPrint(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += n
	}
	return b.String()
}
