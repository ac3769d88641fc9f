package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/chairside/chairside/internal/childproc"
	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
	"github.com/chairside/chairside/monitor/mqttlink/embedded"
)

// need skips the test when tool is not installed, or fails it when
// CHAIRSIDE_REQUIRE names what (as .ci/run does).
func need(t *testing.T, what, tool, install string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err == nil {
		return p
	}
	if brokertest.Required(what) {
		t.Fatalf("CHAIRSIDE_REQUIRE names %s but %s is not installed (%s)", what, tool, install)
	}
	t.Skipf("LOUD: %s is not installed (%s); skipping", tool, install)
	return ""
}

// repoRoot is the repository's top folder (this package is one below it).
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// target is a build of the programs: GOARCH, GOARM and the qemu-user that
// runs it ("" when native).
type target struct {
	name, goarch, goarm, qemu string
}

var (
	builds   = map[string]string{}
	buildsMu sync.Mutex
)

// daemonOnly is what the native tests run: the daemon and the emulator.
var daemonOnly = []string{"chairside", "vitalsim"}

// build compiles progs (all: every program the package holds, each main
// under cmd/ but the demo) for tg, static as `make cross` does, once per
// test binary, and returns the folder holding them.
func build(t *testing.T, tg target, progs []string) string {
	t.Helper()
	buildsMu.Lock()
	defer buildsMu.Unlock()
	key := tg.name + " " + strings.Join(progs, " ")
	if dir, ok := builds[key]; ok {
		return dir
	}
	dir, err := os.MkdirTemp("", "chairside-deploy-"+tg.name)
	if err != nil {
		t.Fatal(err)
	}
	root := repoRoot(t)
	args := []string{"build", "-trimpath", "-ldflags", "-s -w -X github.com/chairside/chairside/cmd/internal/buildinfo.stamped=v0.0.0-deploytest", "-o", dir + "/"}
	for _, p := range progs {
		args = append(args, "./cmd/"+p)
	}
	c := exec.Command("go", args...)
	c.Dir = root
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+tg.goarch, "GOARM="+tg.goarm)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("go build for %s: %v\n%s", tg.name, err, out)
	}
	builds[key] = dir
	return dir
}

func native() target { return target{name: runtime.GOARCH, goarch: runtime.GOARCH} }

// The scenario's protocol: a session starts after 1 s of SpO2, and SpO2
// below 88 for 1 s is a high alarm.
const protocol = `name = "deploy-test"
auto_start_after = "1s"
min_nibp_gap = "10s"
[phase.baseline]
nibp_every = "1h"
[phase.infusion]
duration = "40m"
nibp_every = "1h"
[phase.observation]
duration = "60m"
nibp_every = "1h"
repeat_nibp_after_alarm = "10m"
[[limit]]
condition = "spo2_low"
priority = "high"
below = 88
delay = "1s"
hysteresis = 1
latch = true
`

// The scenario: SpO2 97, then 84 from 3 s on.
const scenario = `name = "deploy-test"
description = "SpO2 97, 84 from 3 s"
duration = "10m"
[start]
spo2 = 97
pulse = 72
bp = { systolic = 120, diastolic = 78 }
[[at]]
t = "3s"
spo2 = 84
`

// run is what a scenario run saw.
type run struct {
	notify []string // sd_notify messages, in order
	alarm  map[string]any
	status map[string]any // the daemon's status socket's document, read during the alarm
	log    string         // the daemon's stderr
}

// noAnnunciator is the [annunciator] table of a chair without one.
const noAnnunciator = "[annunciator]\nkind = \"none\""

// gpioAnnunciator is the shipped config's: on a machine without those pins
// the daemon raises annunciator_fault and runs on.
const gpioAnnunciator = "[annunciator]\nkind = \"gpio\"\nbuzzer = \"GPIO18\"\nred_led = \"GPIO23\"\nyellow_led = \"GPIO24\"\nack_button = \"GPIO25\""

// runScenario runs the real daemon (through wrap: strace, qemu-user, or
// nothing when empty) beside vitalsim (through simWrap) on a pty and the embedded
// broker: the daemon must tell systemd READY=1 and WATCHDOG=1, raise
// spo2_low over MQTT, and stop cleanly on SIGTERM (exit 0, offline state).
func runScenario(t *testing.T, bin string, wrap, simWrap []string, annunciator string) run {
	t.Helper()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	addr := fmt.Sprintf("127.0.0.1:%d", brokertest.FreePorts(t, 1)[0])
	broker, err := embedded.Start(embedded.Options{Address: addr, RetryFor: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = broker.Close() })
	msgs := make(chan paho.Message, 1000)
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("deploy-test").SetCleanSession(true).
		SetOrderMatters(false).SetOnConnectHandler(func(c paho.Client) {
		c.Subscribe("chairside/#", 1, func(_ paho.Client, m paho.Message) {
			select {
			case msgs <- m:
			default:
			}
		})
	})
	sub := paho.NewClient(opts)
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(100) })

	// systemd's notify socket, as the unit's Type=notify gives it.
	notifyPath := filepath.Join(dir, "notify")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	notes := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := nc.ReadFromUnix(buf)
			if err != nil {
				return
			}
			for _, l := range strings.Split(string(buf[:n]), "\n") {
				select {
				case notes <- l:
				default:
				}
			}
		}
	}()

	write("protocol.toml", protocol)
	scen := write("scenario.toml", scenario)
	oxi := filepath.Join(dir, "nonin")
	cfg := write("chairside.toml", fmt.Sprintf(`chair = "chair-01"
protocol = "protocol.toml"
[mqtt]
broker = "tcp://%s"
keepalive = "5s"
[store]
dir = "store"
[status]
socket = "status.sock"
[[sensor]]
driver = "nonin"
port = %q
%s
`, addr, oxi, annunciator))

	simLog, err := os.Create(filepath.Join(dir, "vitalsim.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer simLog.Close()
	sim := command(simWrap, filepath.Join(bin, "vitalsim"), "-scenario", scen, "-nonin", "pty:"+oxi)
	sim.Stdout, sim.Stderr = simLog, simLog
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Process.Kill(); _ = sim.Wait() })
	waitFile(t, oxi, 30*time.Second, filepath.Join(dir, "vitalsim.log"))

	logPath := filepath.Join(dir, "chairside.log")
	daemonLog, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer daemonLog.Close()
	d := command(wrap, filepath.Join(bin, "chairside"), "-config", cfg)
	d.Stdout, d.Stderr = daemonLog, daemonLog
	d.Env = append(os.Environ(), "NOTIFY_SOCKET="+notifyPath, "WATCHDOG_USEC=10000000")
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- d.Wait() }()
	t.Cleanup(func() {
		_ = d.Process.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("chairside log:\n%s", tail(string(b), 6000))
		}
	})

	var r run
	deadline := time.After(60 * time.Second)
	haveReady, haveWatchdog := false, false
	for r.alarm == nil || !haveReady || !haveWatchdog {
		select {
		case n := <-notes:
			r.notify = append(r.notify, n)
			haveReady = haveReady || n == "READY=1"
			haveWatchdog = haveWatchdog || n == "WATCHDOG=1"
		case m := <-msgs:
			if !strings.HasSuffix(m.Topic(), "/alarm") {
				continue
			}
			var v map[string]any
			if err := json.Unmarshal(m.Payload(), &v); err != nil {
				t.Fatalf("alarm payload %q: %v", m.Payload(), err)
			}
			if v["condition"] == "spo2_low" && v["phase"] == "start" {
				r.alarm = v
			}
		case err := <-exited:
			t.Fatalf("chairside exited early: %v", err)
		case <-deadline:
			t.Fatalf("60 s without READY=1 (%v), WATCHDOG=1 (%v) and the spo2_low alarm (%v); notify: %q", haveReady, haveWatchdog, r.alarm != nil, r.notify)
		}
	}

	// chairside status's question, so the status socket's calls are in
	// the trace: the document holds the alarm.
	r.status = readStatus(t, filepath.Join(dir, "status.sock"))

	// SIGTERM to the daemon itself (strace's child; qemu-user is the
	// program's own process).
	pid := d.Process.Pid
	if len(wrap) > 0 && strings.HasSuffix(wrap[0], "strace") {
		pid = childOf(t, pid)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("chairside after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("chairside still running 15 s after SIGTERM")
	}
	for done := false; !done; {
		select {
		case m := <-msgs:
			if strings.HasSuffix(m.Topic(), "/state") && strings.Contains(string(m.Payload()), `"online":false`) {
				done = true
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no offline state after SIGTERM")
		}
	}
	b, _ := os.ReadFile(logPath)
	r.log = string(b)
	return r
}

// readStatus reads the daemon's status socket (interfaces §1.3) until its
// document lists spo2_low: the engine publishes its view a moment after
// the alarm goes out.
func readStatus(t *testing.T, path string) map[string]any {
	t.Helper()
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c, err := net.Dial("unix", path)
		if err != nil {
			last = err.Error()
			continue
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		var v map[string]any
		err = json.NewDecoder(c).Decode(&v)
		c.Close()
		if err != nil {
			last = err.Error()
			continue
		}
		alarms, _ := v["alarms"].([]any)
		for _, a := range alarms {
			if m, _ := a.(map[string]any); m["condition"] == "spo2_low" {
				return v
			}
		}
		b, _ := json.Marshal(v)
		last = string(b)
	}
	t.Fatalf("the status socket %s never listed spo2_low; last: %s", path, last)
	return nil
}

// command runs args through wrap (a command prefix, may be empty).
func command(wrap []string, args ...string) *exec.Cmd {
	all := append(append([]string{}, wrap...), args...)
	c := exec.Command(all[0], all[1:]...)
	childproc.DieWithParent(c, syscall.SIGKILL)
	return c
}

// childOf is the one child process of pid (strace's tracee).
func childOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatal(err)
	}
	var child int
	if _, err := fmt.Sscan(string(b), &child); err != nil {
		t.Fatalf("children of %d: %q: %v", pid, b, err)
	}
	return child
}

func waitFile(t *testing.T, path string, timeout time.Duration, logPath string) {
	t.Helper()
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("%s did not appear in %v; log:\n%s", path, timeout, b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// lines reads a file's lines.
func lines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
