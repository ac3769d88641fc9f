// Package brokertest runs MQTT brokers for tests: a real mosquitto (Debian's
// package) on random ports of 127.0.0.1, and a test PKI for its TLS
// listener. Tests that need mosquitto skip loudly without it, or fail when
// CHAIRSIDE_REQUIRE names it (CONTRACT §1, as .ci/run sets).
package brokertest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chairside/chairside/internal/childproc"
)

const (
	mosquittoBin = "/usr/sbin/mosquitto"
	passwdBin    = "/usr/bin/mosquitto_passwd"
)

// Required says whether CHAIRSIDE_REQUIRE names what (mosquitto, chromium):
// then a test that would skip for its absence fails instead.
func Required(what string) bool {
	for _, w := range strings.Split(os.Getenv("CHAIRSIDE_REQUIRE"), ",") {
		if strings.TrimSpace(w) == what {
			return true
		}
	}
	return false
}

// HaveMosquitto says whether mosquitto and mosquitto_passwd are installed.
func HaveMosquitto() bool {
	for _, bin := range []string{mosquittoBin, passwdBin} {
		if _, err := os.Stat(bin); err != nil {
			return false
		}
	}
	return true
}

// NeedMosquitto skips the test, loudly, when mosquitto is not installed, or
// fails it when CHAIRSIDE_REQUIRE names mosquitto (as .ci/run does).
func NeedMosquitto(t testing.TB) {
	t.Helper()
	if HaveMosquitto() {
		return
	}
	msg := fmt.Sprintf("SKIPPED against real mosquitto: %s or %s not found (apt-get install mosquitto); the embedded-broker tests still ran", mosquittoBin, passwdBin)
	if Required("mosquitto") {
		t.Fatal("CHAIRSIDE_REQUIRE=mosquitto but " + msg)
	}
	t.Skip(msg)
}

// Mosquitto is a real broker run by the test on random ports: plain
// anonymous, username/password with an ACL, and TLS (anonymous).
type Mosquitto struct {
	t                   testing.TB
	dir                 string
	plain, auth, tlsPrt int
	// PKI signed the TLS listener's certificate.
	PKI *PKI

	mu  sync.Mutex
	cmd *exec.Cmd
}

// ACL is the default ACL of the auth listener: chair-ok may use
// chairside/#; chair-acl may read it but its publishes are silently dropped
// (MQTT 3.1.1 has no way to refuse them).
const ACL = `user chair-ok
topic readwrite chairside/#
user chair-acl
topic read chairside/#
`

// Users are the default users of the auth listener, with their passwords.
var Users = map[string]string{"chair-ok": "ok-secret", "chair-acl": "acl-secret"}

// MosquittoOptions change the auth listener's users and ACL.
type MosquittoOptions struct {
	Users map[string]string // nil: Users
	ACL   string            // "": ACL
	// Persistence keeps retained messages, persistent sessions and their
	// queues across a Stop and Start (written at Stop; Kill loses what
	// came since the last save).
	Persistence bool
	// Extra lines for the broker-wide part of the config, e.g.
	// "max_inflight_messages 1000".
	Extra string
	// Tail is appended after the listeners: sections that run to the end
	// of the file, such as a bridge (connection ...) whose options must
	// not be taken for a listener's.
	Tail string
}

// StartMosquitto starts mosquitto with the default users and ACL; the test
// is skipped (or failed, see NeedMosquitto) without mosquitto.
func StartMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	return StartMosquittoWith(t, MosquittoOptions{})
}

// StartMosquittoWith starts mosquitto with other users or another ACL; it
// is stopped when the test ends.
func StartMosquittoWith(t testing.TB, o MosquittoOptions) *Mosquitto {
	t.Helper()
	NeedMosquitto(t)
	if o.Users == nil {
		o.Users = Users
	}
	if o.ACL == "" {
		o.ACL = ACL
	}
	m := &Mosquitto{t: t, dir: t.TempDir(), PKI: NewPKI(t)}
	ports := FreePorts(t, 3)
	m.plain, m.auth, m.tlsPrt = ports[0], ports[1], ports[2]
	first := true
	for user, pw := range o.Users {
		args := []string{"-b", filepath.Join(m.dir, "passwd"), user, pw}
		if first {
			args = append([]string{"-c"}, args...)
			first = false
		}
		if out, err := exec.Command(passwdBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
	}
	m.WriteACL(o.ACL)
	var conf strings.Builder
	fmt.Fprintf(&conf, "per_listener_settings true\nlog_dest stdout\nlog_type error\nlog_type warning\n")
	if o.Persistence {
		fmt.Fprintf(&conf, "persistence true\npersistence_location %s/\n", m.dir)
	} else {
		conf.WriteString("persistence false\n")
	}
	// As configs/mosquitto/mosquitto.conf: mosquitto's default of 1000
	// drops QoS 1 messages for a subscriber that falls behind a backlog.
	conf.WriteString("max_queued_messages 100000\n")
	if o.Extra != "" { // after the defaults: mosquitto takes the last value
		conf.WriteString(strings.TrimSpace(o.Extra) + "\n")
	}
	if os.Geteuid() == 0 {
		conf.WriteString("user root\n") // else it drops to user mosquitto and cannot read the 0600 key
	}
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\nallow_anonymous true\n", m.plain)
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\nacl_file %s\n",
		m.auth, filepath.Join(m.dir, "passwd"), filepath.Join(m.dir, "acl"))
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\nallow_anonymous true\ncafile %s\ncertfile %s\nkeyfile %s\n",
		m.tlsPrt, m.PKI.CAFile, m.PKI.ServerCert, m.PKI.ServerKey)
	if o.Tail != "" {
		conf.WriteString(strings.TrimSpace(o.Tail) + "\n")
	}
	if err := os.WriteFile(filepath.Join(m.dir, "mosquitto.conf"), []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Start()
	t.Cleanup(m.Kill)
	return m
}

// WriteACL replaces the auth listener's ACL file (Reload applies it).
func (m *Mosquitto) WriteACL(acl string) {
	if err := os.WriteFile(filepath.Join(m.dir, "acl"), []byte(acl), 0o600); err != nil {
		m.t.Fatal(err)
	}
}

// Reload makes mosquitto reread its password and ACL files.
func (m *Mosquitto) Reload() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		_ = m.cmd.Process.Signal(syscall.SIGHUP)
	}
}

// Start starts the broker again after Kill, on the same ports.
func (m *Mosquitto) Start() {
	m.t.Helper()
	log, err := os.OpenFile(filepath.Join(m.dir, "broker.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		m.t.Fatal(err)
	}
	cmd := exec.Command(mosquittoBin, "-c", filepath.Join(m.dir, "mosquitto.conf"))
	childproc.DieWithParent(cmd, syscall.SIGKILL)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	_ = log.Close()
	m.mu.Lock()
	m.cmd = cmd
	m.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for _, port := range []int{m.plain, m.auth, m.tlsPrt} {
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				_ = c.Close()
				break
			}
			if time.Now().After(deadline) {
				out, _ := os.ReadFile(filepath.Join(m.dir, "broker.log"))
				m.Kill()
				m.t.Fatalf("mosquitto did not listen on %d: %v\n%s", port, err, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Kill ends the broker at once (SIGKILL): no goodbye to its clients.
func (m *Mosquitto) Kill() {
	m.mu.Lock()
	cmd := m.cmd
	m.cmd = nil
	m.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// Stop ends the broker as an administrator would (SIGTERM): it says
// goodbye to no one but, with Persistence, saves its sessions and queues.
func (m *Mosquitto) Stop() {
	m.mu.Lock()
	cmd := m.cmd
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// PlainURL is the anonymous plain listener.
func (m *Mosquitto) PlainURL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.plain) }

// AuthURL is the listener with users and the ACL.
func (m *Mosquitto) AuthURL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.auth) }

// TLSURL is the anonymous TLS listener (certificate from PKI).
func (m *Mosquitto) TLSURL() string { return fmt.Sprintf("ssl://127.0.0.1:%d", m.tlsPrt) }

// Dir is the broker's folder (config, log, persistence).
func (m *Mosquitto) Dir() string { return m.dir }

// Log is what the broker logged (errors and warnings).
func (m *Mosquitto) Log() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "broker.log"))
	return string(b)
}

// FreePorts finds n free TCP ports on 127.0.0.1 (held open together so they
// differ; a tiny race with other processes remains).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// PID is the running broker's process id (0 when stopped), for benchmarks
// that measure its CPU as a reference.
func (m *Mosquitto) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return 0
	}
	return m.cmd.Process.Pid
}
