package tomlcheck

import (
	"strings"
	"testing"
)

func TestReaderReportsTypesAndUnknownKeys(t *testing.T) {
	var ps Problems
	tb := Parse("x.toml", "s = 1\nd = \"5 minutes\"\nn = \"3\"\nb = \"yes\"\nl = [\"a\", 2]\nextra = true\n[sub]\nk = 1\n", &ps)
	tb.String("s")
	tb.Duration("d")
	tb.Number("n")
	tb.Bool("b")
	tb.Strings("l")
	sub, _ := tb.Table("sub")
	sub.Done()
	tb.Done()
	want := []string{
		"x.toml: s: must be a string, not an integer",
		`x.toml: d: "5 minutes" is not a duration (write e.g. "90s", "5m", "1h30m")`,
		"x.toml: n: must be a number, not a string",
		"x.toml: b: must be true or false, not a string",
		"x.toml: l[1]: must be a string, not an integer",
		"x.toml: sub.k: unknown key",
		"x.toml: extra: unknown key",
	}
	got := (&Error{List: ps.List}).Error()
	if got != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestLoadMissingFileAndSyntaxError(t *testing.T) {
	var ps Problems
	if Load("/nonexistent/c.toml", &ps) != nil || ps.List[0].String() != "/nonexistent/c.toml: cannot read: no such file or directory" {
		t.Fatalf("%v", ps.List)
	}
	ps = Problems{}
	if Parse("x.toml", "a = 1\na = 2\n", &ps) != nil || !strings.HasPrefix(ps.List[0].String(), "x.toml: a: line 2:") {
		t.Fatalf("%v", ps.List)
	}
}

func TestPathResolvesAgainstTheFilesFolder(t *testing.T) {
	var ps Problems
	tb := Parse("/etc/chairside/chairside.toml", "p = \"ketamine.toml\"\nq = \"/abs/x\"\n", &ps)
	if p, _ := tb.Path("p"); p != "/etc/chairside/ketamine.toml" {
		t.Fatalf("relative path = %s", p)
	}
	if q, _ := tb.Path("q"); q != "/abs/x" {
		t.Fatalf("absolute path = %s", q)
	}
}
