// Package cli holds what chairside's programs share at their edge: the JSON
// logger every daemon writes and the -check report every config gets, so
// that chairside, station and recorder read and answer the same way.
package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/chairside/chairside/monitor/tomlcheck"
)

// Exit codes shared by the programs (docs/interfaces.md §1).
const (
	ExitOK     = 0
	ExitConfig = 2 // the config (or a flag) is wrong
)

// Logger is the programs' log: JSON lines on w, at the level named by
// CHAIRSIDE_LOG (debug, info, warn or error; info when unset or unknown).
func Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: LogLevel()}))
}

// LogLevel reads CHAIRSIDE_LOG=debug|info|warn|error (default info).
func LogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("CHAIRSIDE_LOG"))); err != nil {
		return slog.LevelInfo
	}
	return l
}

// Check prints every problem a config load found, then a last line saying
// whether path is good, and returns the exit code for -check: ExitOK when
// there are only warnings, ExitConfig otherwise.
func Check(path string, ps *tomlcheck.Problems, out io.Writer) int {
	for _, p := range ps.List {
		fmt.Fprintln(out, p.String())
	}
	if n := ps.Errors(); n > 0 {
		fmt.Fprintf(out, "%s: %d error(s)\n", path, n)
		return ExitConfig
	}
	fmt.Fprintf(out, "%s: OK\n", path)
	return ExitOK
}
