package config

import (
	"os"

	"github.com/chairside/chairside/monitor/tomlcheck"
)

// DefaultStatusSocket is where the daemon answers `chairside status`: the
// unit's RuntimeDirectory= (/run/chairside), which systemd makes for it.
const DefaultStatusSocket = "/run/chairside/status.sock"

// maxSocketPath is the longest path a unix socket address holds on Linux
// (sun_path is 108 bytes with its terminating NUL).
const maxSocketPath = 107

// Status is the [status] table: the local socket `chairside status` reads.
type Status struct {
	Socket string // "" turns it off
}

func (c *Config) readStatus(t *tomlcheck.Table) {
	st, _ := t.Table("status")
	c.Status.Socket = DefaultStatusSocket
	if p, ok := st.Path("socket"); ok {
		c.Status.Socket = p
		if len(p) > maxSocketPath {
			st.Problem("socket", "%s is %d bytes long; a unix socket's path holds at most %d", p, len(p), maxSocketPath)
		} else if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			st.Problem("socket", "%s is a folder; give the socket's own path, e.g. %s", p, DefaultStatusSocket)
		}
	}
	st.Done()
}
