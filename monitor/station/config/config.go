// Package config reads the station's configuration file (CONTRACT §5)
// strictly, like chairside's: unknown keys are errors and every problem is
// reported at once, naming the key.
package config

import (
	"crypto/tls"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	chairconfig "github.com/chairside/chairside/monitor/config"
	"github.com/chairside/chairside/monitor/station/web"
	"github.com/chairside/chairside/monitor/tomlcheck"
	"github.com/chairside/chairside/monitor/wire"
)

// DefaultPath is where the station looks without -config.
const DefaultPath = "/etc/chairside/station.toml"

// Config is the whole station configuration.
type Config struct {
	File         string
	Name         string
	Listen       string
	TopicPrefix  string
	StoreDir     string
	Keep         time.Duration
	UsersFile    string
	Users        map[string][]byte
	TLSCertFile  string
	TLSKeyFile   string
	OfflineAfter time.Duration
	Actions      []string
	MQTT         chairconfig.MQTT
}

// TLS reports whether the web side is served over HTTPS.
func (c *Config) TLS() bool { return c.TLSCertFile != "" }

var namePattern = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// DefaultActions is the contract's example list.
func DefaultActions() []string {
	return []string{wire.ActionAck, wire.ActionNIBPNow, wire.ActionMark, wire.ActionSessionStart,
		wire.ActionInfusionStart, wire.ActionInfusionEnd, wire.ActionSessionEnd}
}

// Load reads and checks the file; the config is usable only when the
// problems hold no error.
func Load(path string) (*Config, *tomlcheck.Problems) {
	ps := &tomlcheck.Problems{}
	t := tomlcheck.Load(path, ps)
	if t == nil {
		return nil, ps
	}
	c := &Config{File: path}
	c.read(t)
	return c, ps
}

func (c *Config) read(t *tomlcheck.Table) {
	if s, ok := t.String("name"); ok || !t.Has("name") {
		c.Name = s
		if !namePattern.MatchString(s) {
			t.Problem("name", "%q must be 1 to 32 of a-z, 0-9 and - (the MQTT client id is station-<name>)", s)
		}
	}
	c.Listen = "127.0.0.1:8080"
	if s, ok := t.String("listen"); ok {
		c.Listen = s
		if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
			t.Problem("listen", "%q must be host:port, e.g. \"127.0.0.1:8080\" or \":8443\"", s)
		}
	}
	c.TopicPrefix = "chairside"
	if s, ok := t.String("topic_prefix"); ok {
		c.TopicPrefix = s
		if s == "" || strings.ContainsAny(s, "+#") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.HasPrefix(s, "$") {
			t.Problem("topic_prefix", "%q must be non-empty, without + # or a leading $, and not start or end with /", s)
		}
	}
	c.StoreDir = "/var/lib/chairside-station"
	if d, ok := t.Path("store_dir"); ok {
		c.StoreDir = d
		if d == "" {
			t.Problem("store_dir", "must not be empty")
		} else if fi, err := os.Stat(d); err == nil && !fi.IsDir() {
			t.Problem("store_dir", "%s is a file, not a folder", d)
		}
	}
	c.Keep = 72 * time.Hour
	if d, ok := t.Duration("keep"); ok {
		c.Keep = d
		if d < time.Hour || d > 90*24*time.Hour {
			t.Problem("keep", "is %v; it must be between 1h and 2160h (90 days)", d)
		}
	}
	c.readUsers(t)
	c.readTLS(t)
	c.OfflineAfter = 25 * time.Second
	if d, ok := t.Duration("offline_after"); ok {
		c.OfflineAfter = d
		if d < 11*time.Second || d > 10*time.Minute {
			t.Problem("offline_after", "is %v; it must be between 11s (a chair's heartbeat comes every 10 s) and 10m", d)
		}
	}
	c.Actions = DefaultActions()
	if list, ok := t.Strings("actions"); ok {
		c.Actions = list
		for _, a := range list {
			if !wire.IsAction(a) {
				t.Problem("actions", "%q is not an action (%s)", a, strings.Join(wire.Actions(), ", "))
			}
		}
		if slices.Contains(list, wire.ActionPauseAudio) {
			t.Warn("actions", "pause_audio silences a bedside from the desk; the chair refuses it unless its [commands] remote lists it")
		}
	}
	if m, _ := t.Table("mqtt"); m.Has("topic_prefix") {
		m.Problem("topic_prefix", "belongs at the top level of the station's file, not in [mqtt]")
		m.Ignore("topic_prefix")
	}
	c.MQTT = chairconfig.ReadMQTT(t)
	t.Done()
}

func (c *Config) readUsers(t *tomlcheck.Table) {
	p, ok := t.Path("users_file")
	if !ok || p == "" {
		t.Problem("users_file", "is required: \"name:bcrypt-hash\" lines; add users with station -passwd NAME -users-file FILE")
		return
	}
	c.UsersFile = p
	fi, err := os.Stat(p)
	if err != nil {
		// The station still shows every chair; nobody can act from it.
		t.Warn("users_file", "%s: %v: nobody can sign in (add a user with station -passwd NAME -users-file %s)", p, unwrap(err), p)
		return
	}
	if fi.Mode().Perm()&0o044 != 0 {
		t.Problem("users_file", "%s is readable by other users (mode %v): chmod 600 it", p, fi.Mode().Perm())
	}
	users, err := web.LoadUsers(p)
	if err != nil {
		t.Problem("users_file", "%v", err)
	}
	if len(users) == 0 && err == nil {
		t.Warn("users_file", "%s holds no user: nobody can sign in and act", p)
	}
	c.Users = users
}

func (c *Config) readTLS(t *tomlcheck.Table) {
	cert, _ := t.Path("tls_cert_file")
	key, _ := t.Path("tls_key_file")
	c.TLSCertFile, c.TLSKeyFile = cert, key
	switch {
	case (cert == "") != (key == ""):
		t.Problem("tls_cert_file", "and tls_key_file go together: give both or neither")
	case cert != "":
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			t.Problem("tls_cert_file", "%s with %s: %v", cert, key, err)
		}
	default:
		if host, _, err := net.SplitHostPort(c.Listen); err == nil {
			if ip := net.ParseIP(host); host == "" || ip == nil || !ip.IsLoopback() {
				t.Warn("listen", "%s without TLS: pages from other machines can watch, but sign-in works only from this one; set tls_cert_file and tls_key_file", c.Listen)
			}
		}
	}
}

func unwrap(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
