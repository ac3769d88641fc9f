package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckShippedConfig(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"-check", "-config", filepath.Join("..", "..", "configs", "chairside.toml")}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out.String(), errb.String())
	}
	if !strings.HasSuffix(out.String(), "chairside.toml: OK\n") {
		t.Fatalf("output:\n%s", out.String())
	}
}

func TestCheckBadConfigExits2NamingEveryKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.toml")
	os.WriteFile(path, []byte("chair = \"BAD\"\nprotocol = \"missing.toml\"\nbogus = 1\n"), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"-check", "-config", path}, &out, &errb); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{"c.toml: chair:", "c.toml: protocol: " + filepath.Join(dir, "missing.toml") + ": no such file", "c.toml: bogus: unknown key", "c.toml: mqtt: is required", "c.toml: annunciator: is required", "error(s)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "chairside ") {
		t.Fatalf("-version: %d %q", code, out.String())
	}
	if code := run([]string{"-nope"}, &out, &errb); code != 2 {
		t.Fatalf("bad flag exit %d, want 2", code)
	}
}

// TestProcs: the daemon caps the runtime's GOMAXPROCS at two, and leaves
// a value set in the environment alone.
func TestProcs(t *testing.T) {
	for _, c := range []struct {
		current int
		envSet  bool
		want    int
	}{{1, false, 1}, {2, false, 2}, {4, false, 2}, {64, false, 2}, {4, true, 4}, {1, true, 1}} {
		if got := procs(c.current, c.envSet); got != c.want {
			t.Errorf("procs(%d, env set %v) = %d, want %d", c.current, c.envSet, got, c.want)
		}
	}
}
