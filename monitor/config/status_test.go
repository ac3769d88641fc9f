package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/chairside/chairside/monitor/tomlcheck"
)

// The status socket defaults to the unit's runtime directory, takes a path
// (relative to the config's folder) or "" (off), and refuses a path no unix
// socket can have.
func TestStatusSocket(t *testing.T) {
	c, ps := Load(write(t, good))
	if ps.Errors() != 0 || c.Status.Socket != DefaultStatusSocket {
		t.Fatalf("default: %q, %v", c.Status.Socket, ps.List)
	}
	path := write(t, good+"[status]\nsocket = \"s.sock\"\n")
	if c, ps = Load(path); ps.Errors() != 0 || c.Status.Socket != filepath.Join(filepath.Dir(path), "s.sock") {
		t.Fatalf("relative: %q, %v", c.Status.Socket, ps.List)
	}
	if c, ps = Load(write(t, good+"[status]\nsocket = \"\"\n")); ps.Errors() != 0 || c.Status.Socket != "" {
		t.Fatalf("off: %q, %v", c.Status.Socket, ps.List)
	}
	for _, bad := range []struct{ text, want string }{
		{"socket = \"/run/" + strings.Repeat("x", 120) + "\"", "status.socket: /run/xxx"},
		{"socket = \".\"", "is a folder"},
		{"sock = \"/run/x\"", "status.sock: unknown key"},
		{"socket = 5", "status.socket: must be a string"},
	} {
		_, ps := Load(write(t, good+"[status]\n"+bad.text+"\n"))
		all := (&tomlcheck.Error{List: ps.List}).Error()
		if ps.Errors() == 0 || !strings.Contains(all, bad.want) {
			t.Errorf("%s: want %q, got %s", bad.text, bad.want, all)
		}
	}
}
