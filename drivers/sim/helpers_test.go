package sim

import (
	"strings"
	"testing"

	"github.com/chairside/chairside/monitor/tomlcheck"
)

// parse parses text that must load without errors.
func parse(t *testing.T, text string) *Scenario {
	t.Helper()
	var ps tomlcheck.Problems
	sc := Parse("s.toml", text, &ps)
	if ps.Errors() > 0 || sc == nil {
		t.Fatalf("unexpected problems:\n%v", ps.Err())
	}
	return sc
}

// problems parses text that must fail and gives every problem, one a line.
func problems(t *testing.T, text string) string {
	t.Helper()
	var ps tomlcheck.Problems
	if sc := Parse("s.toml", text, &ps); sc != nil || ps.Errors() == 0 {
		t.Fatalf("accepted:\n%s", text)
	}
	lines := make([]string, len(ps.List))
	for i, p := range ps.List {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// header is a minimal valid beginning, to which tests add entries.
const header = `name = "t"
[start]
spo2 = 97
pulse = 70
bp = { systolic = 120, diastolic = 80 }
`
