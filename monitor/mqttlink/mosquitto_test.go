package mqttlink

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
)

const (
	mosquittoBin = "/usr/sbin/mosquitto"
	passwdBin    = "/usr/bin/mosquitto_passwd"
)

// needMosquitto skips the test, loudly, when mosquitto is not installed, or
// fails it when CHAIRSIDE_REQUIRE names mosquitto (as .ci/run does).
func needMosquitto(t testing.TB) {
	t.Helper()
	for _, bin := range []string{mosquittoBin, passwdBin} {
		if _, err := os.Stat(bin); err != nil {
			msg := fmt.Sprintf("SKIPPED against real mosquitto: %s not found (apt-get install mosquitto); the embedded-broker tests still ran", bin)
			if strings.Contains(os.Getenv("CHAIRSIDE_REQUIRE"), "mosquitto") {
				t.Fatal("CHAIRSIDE_REQUIRE=mosquitto but " + msg)
			}
			t.Skip(msg)
		}
	}
}

// mosquitto is a real broker run by the test on random ports: plain
// anonymous, username/password with an ACL, and TLS (anonymous).
type mosquitto struct {
	t                   testing.TB
	dir                 string
	plain, auth, tlsPrt int
	pki                 *testPKI

	mu  sync.Mutex
	cmd *exec.Cmd
}

// mosquittoACL: chair-ok may use chairside/#; chair-acl may read it but its
// publishes are silently dropped (MQTT 3.1.1 has no way to refuse them).
const mosquittoACL = `user chair-ok
topic readwrite chairside/#
user chair-acl
topic read chairside/#
`

func startMosquitto(t testing.TB) *mosquitto {
	t.Helper()
	needMosquitto(t)
	m := &mosquitto{t: t, dir: t.TempDir(), pki: newTestPKI(t)}
	ports := freePorts(t, 3)
	m.plain, m.auth, m.tlsPrt = ports[0], ports[1], ports[2]
	for _, u := range [][2]string{{"chair-ok", "ok-secret"}, {"chair-acl", "acl-secret"}} {
		args := []string{"-b", filepath.Join(m.dir, "passwd"), u[0], u[1]}
		if u[0] == "chair-ok" {
			args = append([]string{"-c"}, args...)
		}
		if out, err := exec.Command(passwdBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
	}
	m.writeACL(mosquittoACL)
	var conf strings.Builder
	fmt.Fprintf(&conf, "per_listener_settings true\npersistence false\nlog_dest stdout\nlog_type error\nlog_type warning\n")
	if os.Geteuid() == 0 {
		conf.WriteString("user root\n") // else it drops to user mosquitto and cannot read the 0600 key
	}
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\nallow_anonymous true\n", m.plain)
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\nacl_file %s\n",
		m.auth, filepath.Join(m.dir, "passwd"), filepath.Join(m.dir, "acl"))
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\nallow_anonymous true\ncafile %s\ncertfile %s\nkeyfile %s\n",
		m.tlsPrt, m.pki.CAFile, m.pki.ServerCert, m.pki.ServerKey)
	if err := os.WriteFile(filepath.Join(m.dir, "mosquitto.conf"), []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	m.start()
	t.Cleanup(m.kill)
	return m
}

func (m *mosquitto) writeACL(acl string) {
	if err := os.WriteFile(filepath.Join(m.dir, "acl"), []byte(acl), 0o600); err != nil {
		m.t.Fatal(err)
	}
}

// reload makes mosquitto reread its password and ACL files.
func (m *mosquitto) reload() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		_ = m.cmd.Process.Signal(syscall.SIGHUP)
	}
}

func (m *mosquitto) start() {
	m.t.Helper()
	log, err := os.OpenFile(filepath.Join(m.dir, "broker.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		m.t.Fatal(err)
	}
	cmd := exec.Command(mosquittoBin, "-c", filepath.Join(m.dir, "mosquitto.conf"))
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
				m.kill()
				m.t.Fatalf("mosquitto did not listen on %d: %v\n%s", port, err, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// kill ends the broker at once (SIGKILL): no goodbye to its clients.
func (m *mosquitto) kill() {
	m.mu.Lock()
	cmd := m.cmd
	m.cmd = nil
	m.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

func (m *mosquitto) plainURL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.plain) }
func (m *mosquitto) authURL() string  { return fmt.Sprintf("tcp://127.0.0.1:%d", m.auth) }
func (m *mosquitto) tlsURL() string   { return fmt.Sprintf("ssl://127.0.0.1:%d", m.tlsPrt) }

// freePorts finds n free TCP ports on 127.0.0.1 (held open together so they
// differ; a tiny race with other processes remains).
func freePorts(t testing.TB, n int) []int {
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
