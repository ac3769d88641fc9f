package suntech

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unhex reads "3E 04 4B 73" into bytes.
func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// readTable reads a testdata file of "a | b | ..." lines, skipping blanks and
// comments, with each field trimmed.
func readTable(tb testing.TB, name string) [][]string {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "|")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		rows = append(rows, fields)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(rows) == 0 {
		tb.Fatalf("%s: no rows", name)
	}
	return rows
}

// parseAll runs a fresh parser over b in one call sequence and returns the
// frames' descriptions.
func parseAll(p *Parser, b []byte) []string {
	var out []string
	for {
		f, n, ok := p.Next(b)
		b = b[n:]
		if !ok {
			return out
		}
		out = append(out, f.String())
	}
}
