// Package tomlcheck reads a TOML file strictly and reports every problem at
// once, each naming the file, the key and what is wrong.
//
// BurntSushi/toml parses the text; this package walks the decoded tree the way a
// schema would: a reader asks for each key with the type it expects, and when it
// is done with a table, every key it did not ask for is reported as unknown. A
// clinic's engineer fixing a config then sees all mistakes in one run of
// `chairside -check`, not one per run.
package tomlcheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Problem is one thing wrong (or, with Warning, doubtful) in a file.
type Problem struct {
	File    string
	Key     string // dotted path, e.g. "phase.infusion.nibp_every" or "limit[2].below"; "" for the whole file
	Msg     string
	Warning bool
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	b.WriteString(": ")
	if p.Warning {
		b.WriteString("warning: ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems collects the problems of one or more files in the order found.
type Problems struct {
	List []Problem
}

// Add records an error.
func (ps *Problems) Add(file, key, format string, args ...any) {
	ps.List = append(ps.List, Problem{File: file, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Warn records a warning: the file is usable but something deserves a look.
func (ps *Problems) Warn(file, key, format string, args ...any) {
	ps.List = append(ps.List, Problem{File: file, Key: key, Msg: fmt.Sprintf(format, args...), Warning: true})
}

// Errors counts the problems that are not warnings.
func (ps *Problems) Errors() int {
	n := 0
	for _, p := range ps.List {
		if !p.Warning {
			n++
		}
	}
	return n
}

// Err returns nil when there are no errors (warnings do not count), and
// otherwise an error whose text lists every problem, one a line.
func (ps *Problems) Err() error {
	if ps.Errors() == 0 {
		return nil
	}
	return &Error{List: ps.List}
}

// Error is the error a failed load returns: every problem, errors and warnings.
type Error struct {
	List []Problem
}

func (e *Error) Error() string {
	lines := make([]string, 0, len(e.List))
	for _, p := range e.List {
		lines = append(lines, p.String())
	}
	return strings.Join(lines, "\n")
}

// Table is one TOML table being read. Ask for each key with the type you
// expect, then call Done to report the keys nobody asked for.
type Table struct {
	file string
	path string
	m    map[string]any
	used map[string]bool
	ps   *Problems
}

// Load parses the file at path. On a read or syntax error it records the
// problem and returns nil.
func Load(path string, ps *Problems) *Table {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		ps.Add(path, "", "cannot read: %v", err)
		return nil
	}
	return Parse(path, string(data), ps)
}

// Parse parses TOML text; file names it in problems.
func Parse(file, text string, ps *Problems) *Table {
	var m map[string]any
	if _, err := toml.Decode(text, &m); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			ps.Add(file, pe.LastKey, "line %d: %s", pe.Position.Line, strings.TrimPrefix(pe.Message, "toml: "))
		} else {
			ps.Add(file, "", "%v", err)
		}
		return nil
	}
	return newTable(file, "", m, ps)
}

func newTable(file, path string, m map[string]any, ps *Problems) *Table {
	return &Table{file: file, path: path, m: m, used: map[string]bool{}, ps: ps}
}

// File is the file the table came from.
func (t *Table) File() string { return t.file }

// Key gives the dotted path of key within this table, for messages.
func (t *Table) Key(key string) string {
	if t.path == "" {
		return key
	}
	if key == "" {
		return t.path
	}
	return t.path + "." + key
}

// Problem records an error about key of this table.
func (t *Table) Problem(key, format string, args ...any) {
	t.ps.Add(t.file, t.Key(key), format, args...)
}

// Warn records a warning about key of this table.
func (t *Table) Warn(key, format string, args ...any) {
	t.ps.Warn(t.file, t.Key(key), format, args...)
}

// Has reports whether key is present (without marking it read).
func (t *Table) Has(key string) bool {
	_, ok := t.m[key]
	return ok
}

// Ignore marks key as read without checking it: for a key that another
// problem already explains (a key of a driver that is not known, or one that
// is not for this driver), so one mistake gives one line, not a cascade.
func (t *Table) Ignore(key string) { t.used[key] = true }

// IgnoreRest marks every key not yet read as read (see Ignore).
func (t *Table) IgnoreRest() {
	for k := range t.m {
		t.used[k] = true
	}
}

func (t *Table) get(key string) (any, bool) {
	v, ok := t.m[key]
	if ok {
		t.used[key] = true
	}
	return v, ok
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case time.Time:
		return "a date-time"
	}
	return fmt.Sprintf("%T", v)
}

// String reads a string; ok is false when absent or of the wrong type.
func (t *Table) String(key string) (string, bool) {
	v, ok := t.get(key)
	if !ok {
		return "", false
	}
	s, isStr := v.(string)
	if !isStr {
		t.Problem(key, "must be a string, not %s", typeName(v))
		return "", false
	}
	return s, true
}

// Bool reads a boolean.
func (t *Table) Bool(key string) (bool, bool) {
	v, ok := t.get(key)
	if !ok {
		return false, false
	}
	b, isBool := v.(bool)
	if !isBool {
		t.Problem(key, "must be true or false, not %s", typeName(v))
		return false, false
	}
	return b, true
}

// Number reads an integer or a float as float64.
func (t *Table) Number(key string) (float64, bool) {
	v, ok := t.get(key)
	if !ok {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	t.Problem(key, "must be a number, not %s", typeName(v))
	return 0, false
}

// Int reads an integer.
func (t *Table) Int(key string) (int64, bool) {
	v, ok := t.get(key)
	if !ok {
		return 0, false
	}
	n, isInt := v.(int64)
	if !isInt {
		t.Problem(key, "must be an integer, not %s", typeName(v))
		return 0, false
	}
	return n, true
}

// Duration reads a Go duration string such as "90s" or "40m". A bare number is
// refused: "5" could mean seconds or minutes, and a wrong guess is dangerous.
func (t *Table) Duration(key string) (time.Duration, bool) {
	v, ok := t.get(key)
	if !ok {
		return 0, false
	}
	s, isStr := v.(string)
	if !isStr {
		t.Problem(key, "must be a duration string such as \"90s\" or \"5m\", not %s", typeName(v))
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Problem(key, "%q is not a duration (write e.g. \"90s\", \"5m\", \"1h30m\")", s)
		return 0, false
	}
	if d < 0 {
		t.Problem(key, "%q must not be negative", s)
		return 0, false
	}
	return d, true
}

// Strings reads an array of strings.
func (t *Table) Strings(key string) ([]string, bool) {
	v, ok := t.get(key)
	if !ok {
		return nil, false
	}
	arr, isArr := v.([]any)
	if !isArr {
		t.Problem(key, "must be an array of strings, not %s", typeName(v))
		return nil, false
	}
	out := make([]string, 0, len(arr))
	good := true
	for i, e := range arr {
		s, isStr := e.(string)
		if !isStr {
			t.Problem(fmt.Sprintf("%s[%d]", key, i), "must be a string, not %s", typeName(e))
			good = false
			continue
		}
		out = append(out, s)
	}
	return out, good
}

// Path reads a file path; a relative one is resolved against the folder of
// the file being read, as the contract says.
func (t *Table) Path(key string) (string, bool) {
	s, ok := t.String(key)
	if !ok || s == "" {
		return s, ok
	}
	if !filepath.IsAbs(s) {
		s = filepath.Join(filepath.Dir(t.file), s)
	}
	return s, true
}

// Table reads a sub-table. An absent key gives an empty table (so reading
// defaults needs no nil checks); present marks whether it was there.
func (t *Table) Table(key string) (sub *Table, present bool) {
	v, ok := t.get(key)
	if !ok {
		return newTable(t.file, t.Key(key), map[string]any{}, t.ps), false
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		t.Problem(key, "must be a table ([%s]), not %s", t.Key(key), typeName(v))
		return newTable(t.file, t.Key(key), map[string]any{}, t.ps), false
	}
	return newTable(t.file, t.Key(key), m, t.ps), true
}

// Tables reads an array of tables ([[key]]).
func (t *Table) Tables(key string) []*Table {
	v, ok := t.get(key)
	if !ok {
		return nil
	}
	var maps []map[string]any
	switch a := v.(type) {
	case []map[string]any:
		maps = a
	case []any: // inline array of tables
		for i, e := range a {
			m, isMap := e.(map[string]any)
			if !isMap {
				t.Problem(fmt.Sprintf("%s[%d]", key, i+1), "must be a table, not %s", typeName(e))
				continue
			}
			maps = append(maps, m)
		}
	default:
		t.Problem(key, "must be an array of tables ([[%s]]), not %s", t.Key(key), typeName(v))
		return nil
	}
	out := make([]*Table, len(maps))
	for i, m := range maps {
		out[i] = newTable(t.file, fmt.Sprintf("%s[%d]", t.Key(key), i+1), m, t.ps)
	}
	return out
}

// Keys lists the table's keys in order.
func (t *Table) Keys() []string {
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Done reports every key of this table that was not read as unknown. Call it
// once per table, after reading all known keys.
func (t *Table) Done() {
	for _, k := range t.Keys() {
		if !t.used[k] {
			t.Problem(k, "unknown key")
		}
	}
}

// FromMap reads an already decoded object (from JSON, say) with the same
// checks; file and path name it in problems. JSON numbers (float64) are
// accepted where integers are asked for when they are whole.
func FromMap(file, path string, m map[string]any, ps *Problems) *Table {
	return newTable(file, path, m, ps)
}

// ProblemsSink gives the problem list this table reports to, so a file that
// names another (the config naming its protocol) reports into the same list.
func (t *Table) ProblemsSink() *Problems { return t.ps }
