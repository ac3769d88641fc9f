package cli

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/chairside/chairside/monitor/tomlcheck"
)

func TestCheckReportsEveryProblemAndItsVerdict(t *testing.T) {
	var ps tomlcheck.Problems
	ps.Warn("a.toml", "keepalive", "is long")
	var out bytes.Buffer
	if code := Check("a.toml", &ps, &out); code != ExitOK {
		t.Errorf("warnings only: exit %d, want %d", code, ExitOK)
	}
	if !strings.Contains(out.String(), "keepalive") || !strings.HasSuffix(out.String(), "a.toml: OK\n") {
		t.Errorf("warnings only printed %q", out.String())
	}
	ps.Add("a.toml", "chair", "is required")
	out.Reset()
	if code := Check("a.toml", &ps, &out); code != ExitConfig {
		t.Errorf("an error: exit %d, want %d", code, ExitConfig)
	}
	if !strings.Contains(out.String(), "chair") || !strings.HasSuffix(out.String(), "a.toml: 1 error(s)\n") {
		t.Errorf("an error printed %q", out.String())
	}
}

func TestLogLevel(t *testing.T) {
	for env, want := range map[string]slog.Level{"": slog.LevelInfo, "debug": slog.LevelDebug, "warn": slog.LevelWarn, "loud": slog.LevelInfo} {
		t.Setenv("CHAIRSIDE_LOG", env)
		if got := LogLevel(); got != want {
			t.Errorf("CHAIRSIDE_LOG=%q: %v, want %v", env, got, want)
		}
	}
}
