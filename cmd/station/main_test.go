package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chairside/chairside/internal/childproc"
	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
	"github.com/chairside/chairside/monitor/station/web"
)

func TestVersionAndCheck(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-version"}, nil, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "station ") {
		t.Errorf("-version: %d %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"-check", "-config", "../../configs/station.toml"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "OK") {
		t.Errorf("-check of the shipped config: %d %s", code, out.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("name = \"x y\"\nspeed = 3\n"), 0o600)
	out.Reset()
	if code := run([]string{"-check", "-config", bad}, nil, &out, &errb); code != 2 || !strings.Contains(out.String(), "speed") || !strings.Contains(out.String(), "mqtt: is required") {
		t.Errorf("-check of a bad config: %d %s", code, out.String())
	}
	if code := run([]string{"-config", bad}, nil, &out, &errb); code != 2 {
		t.Errorf("running with a bad config: exit %d, want 2", code)
	}
	if code := run([]string{"-bogus"}, nil, &out, &errb); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
}

func TestPasswd(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	pw := func(stdin string, args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(args, strings.NewReader(stdin), &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, msg := pw("correct horse\ncorrect horse\n", "-passwd", "ann", "-users-file", users); code != 0 || !strings.Contains(msg, "user ann set") {
		t.Fatalf("-passwd: %d %s", code, msg)
	}
	long := strings.Repeat("p", 73)
	if code, msg := pw(long+"\n"+long+"\n", "-passwd", "bob", "-users-file", users); code != 2 || !strings.Contains(msg, "bcrypt takes at most 72") {
		t.Errorf("73-byte password: %d %s", code, msg)
	}
	if code, msg := pw("correct horse\ncorrect hose\n", "-passwd", "bob", "-users-file", users); code != 2 || !strings.Contains(msg, "differ") {
		t.Errorf("mismatch: %d %s", code, msg)
	}
	if code, msg := pw("", "-passwd", "bob", "-users-file", users); code != 2 || !strings.Contains(msg, "no password") {
		t.Errorf("empty stdin: %d %s", code, msg)
	}
	if code, _ := pw("x\nx\n", "-passwd", "bob"); code != 2 {
		t.Errorf("-passwd without -users-file: %d", code)
	}
	u, err := web.LoadUsers(users)
	if err != nil || len(u) != 1 {
		t.Fatalf("users file after: %v %v (only ann)", u, err)
	}
}

// The binary logs JSON lines and stops within 5 s of SIGTERM.
func TestSIGTERMStopsWithin5s(t *testing.T) {
	m := brokertest.StartMosquitto(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "station")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if err := web.SetUser(filepath.Join(dir, "users"), "ann", "correct horse"); err != nil {
		t.Fatal(err)
	}
	port := brokertest.FreePorts(t, 1)[0]
	cfg := filepath.Join(dir, "station.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("name = \"desk-1\"\nlisten = \"127.0.0.1:%d\"\nstore_dir = \"store\"\nusers_file = \"users\"\n[mqtt]\nbroker = %q\n", port, m.PlainURL())), 0o600)
	cmd := exec.Command(bin, "-config", cfg)
	childproc.DieWithParent(cmd, syscall.SIGKILL)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	started := time.After(10 * time.Second)
	for ready := false; !ready; {
		select {
		case l := <-lines:
			var rec map[string]any
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("log line is not JSON: %s", l)
			}
			ready = rec["msg"] == "mqtt connected"
		case <-started:
			cmd.Process.Kill()
			t.Fatal("station did not connect")
		}
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
		t.Logf("stopped %v after SIGTERM", time.Since(start))
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("station still running 5 s after SIGTERM")
	}
}

// Under systemd (Type=notify, WatchdogSec=) the station says READY=1 only
// once its web server answers, then pings WATCHDOG=1 with a STATUS= line
// from its timer loop, and says STOPPING=1 on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	m := brokertest.StartMosquitto(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "station")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := web.SetUser(filepath.Join(dir, "users"), "ann", "correct horse"); err != nil {
		t.Fatal(err)
	}
	port := brokertest.FreePorts(t, 1)[0]
	cfg := filepath.Join(dir, "station.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("name = \"desk-1\"\nlisten = \"127.0.0.1:%d\"\nstore_dir = \"store\"\nusers_file = \"users\"\n[mqtt]\nbroker = %q\n", port, m.PlainURL())), 0o600)
	cmd := exec.Command(bin, "-config", cfg)
	childproc.DieWithParent(cmd, syscall.SIGKILL)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=30000000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	read := func(within time.Duration) string {
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(within))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification from the station: %v", err)
		}
		return string(buf[:n])
	}
	first := read(10 * time.Second)
	if !strings.Contains(first, "READY=1") {
		t.Fatalf("first notification %q, want READY=1", first)
	}
	// READY=1 means the page and the API answer.
	r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatalf("READY=1 sent but the web server does not answer: %v", err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(body), "<html") {
		t.Errorf("GET / after READY=1: %d, page not served (%.80q)", r.StatusCode, body)
	}
	var pinged, status bool
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !(pinged && status); {
		msg := read(3 * time.Second)
		pinged = pinged || strings.Contains(msg, "WATCHDOG=1")
		status = status || strings.Contains(msg, "STATUS=0 chairs, 0 online; broker connected")
	}
	if !pinged || !status {
		t.Fatalf("watchdog pinged %v, status seen %v", pinged, status)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	for {
		if msg := read(5 * time.Second); strings.Contains(msg, "STOPPING=1") {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
}
