package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/config"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// statusEngine is a real engine on a real loop, with the daemon's board
// behind it: what the status socket reads.
type statusEngine struct {
	in    chan any
	board *statusBoard
	steps atomic.Int64 // steps the loop finished
	src   *statusSource
}

func startStatusEngine(t *testing.T) *statusEngine {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hil.toml"), []byte(hilProtocol), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "chairside.toml")
	if err := os.WriteFile(path, []byte(chairConfig("chair-07", "hil.toml", "broker = \"tcp://127.0.0.1:1\"", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, ps := config.Load(path)
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	e, err := monitor.New(cfg.Engine(3), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	se := &statusEngine{in: make(chan any), board: &statusBoard{}}
	se.board.step(e, time.Now())
	se.src = &statusSource{chair: cfg.Chair, broker: cfg.MQTT.Broker, storeDir: cfg.Store.Dir, boot: 3, stream: "st-1",
		started: time.Now(), board: se.board,
		sensors: []sensorView{{Sensor: 1, Driver: "nonin", Port: "/dev/x", Roles: []string{"oximeter"}}, {Sensor: 2, Driver: "suntech", Port: "/dev/y", Roles: []string{"nibp"}}},
		link:    func() linkView { return linkView{Connected: true} },
		backlog: func() backlogView { return backlogView{Memory: 2} },
		store:   func() (store.Stats, bool) { return store.Stats{Records: 40, Bytes: 1 << 20, FileSize: 2 << 20}, true },
		synced:  func() bool { return true }, busy: func() uint64 { return 0 }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = monitor.RunLoop(ctx, e, monitor.RealClock{}, se.in, se.board.observe, func(e *monitor.Engine) {
			se.board.step(e, time.Now())
			se.steps.Add(1)
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return se
}

// send hands the engine an input, failing when it does not take it within
// a second: the engine is blocked.
func (se *statusEngine) send(t *testing.T, v any) {
	t.Helper()
	select {
	case se.in <- v:
	case <-time.After(time.Second):
		t.Fatalf("the engine did not take %T within 1 s: blocked", v)
	}
}

// serve serves the status socket in a temporary folder until the test ends.
func (se *statusEngine) serve(t *testing.T, doc func(time.Time) statusDoc) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "status.sock")
	ln, err := listenStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); serveStatus(ctx, ln, doc, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() { cancel(); <-done })
	return path
}

// waitStatus polls the socket until ok accepts a document.
func waitStatus(t *testing.T, path, what string, ok func(statusDoc) bool) statusDoc {
	t.Helper()
	var last statusDoc
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, d, err := fetchStatus(path)
		if err != nil {
			t.Fatal(err)
		}
		if ok(d) {
			return d
		}
		last = d
	}
	b, _ := json.Marshal(last)
	t.Fatalf("timed out waiting for %s; last document: %s", what, b)
	return last
}

func vital(d statusDoc, param string) vitalView {
	for _, v := range d.Vitals {
		if v.Param == param {
			return v
		}
	}
	return vitalView{}
}

// The socket's document follows a running engine: idle, then a session
// with the values the oximeter sent and their age, an alarm, and a probe
// off that shows no number; the daemon's parts (link, backlog, store) are
// in it too.
func TestStatusReflectsTheEngine(t *testing.T) {
	se := startStatusEngine(t)
	path := se.serve(t, se.src.document)

	d := waitStatus(t, path, "idle", func(d statusDoc) bool { return d.Session.Phase == "idle" })
	if d.Chair != "chair-07" || d.Boot != 3 || d.PID != os.Getpid() || len(d.Sensors) != 2 || d.Sensors[0].AgeS != nil || d.Store == nil ||
		d.Backlog.Records != 42 || d.Backlog.StoreRecords != 40 || !d.Link.Connected || !d.Clock.Synced || vital(d, "spo2").Value.Valid {
		b, _ := json.Marshal(d)
		t.Fatalf("idle document: %s", b)
	}

	se.send(t, monitor.Command{Local: true, Command: wire.Command{V: 1, ID: "s1", T: wire.At(time.Now()), Action: wire.ActionSessionStart, By: "test"}})
	se.send(t, vitals.Reading{Sensor: 0, Param: vitals.SpO2, Value: 97})
	se.send(t, vitals.Reading{Sensor: 0, Param: vitals.Pulse, Value: 72})
	d = waitStatus(t, path, "a session with SpO2 97", func(d statusDoc) bool {
		return d.Session.Phase == "baseline" && vital(d, "spo2").Value.V == 97 && vital(d, "pulse").Value.V == 72
	})
	if s := vital(d, "spo2"); d.Session.ID == "" || s.AgeS == nil || *s.AgeS > 2 || s.Unit != "%" || s.Source != "nonin" || d.Sensors[0].AgeS == nil {
		b, _ := json.Marshal(d)
		t.Fatalf("session document: %s", b)
	}

	// SpO2 80 for the limit's 2 s: the high alarm, first in the list.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		se.send(t, vitals.Reading{Sensor: 0, Param: vitals.SpO2, Value: 80})
	}
	d = waitStatus(t, path, "spo2_low", func(d statusDoc) bool { return len(d.Alarms) > 0 && d.Alarms[0].Condition == "spo2_low" })
	if a := d.Alarms[0]; a.Priority != "high" || a.Value.V != 80 {
		t.Fatalf("alarm: %+v", a)
	}

	// The probe comes off, its last value was 80: no number now, the flag instead.
	se.send(t, vitals.Reading{Sensor: 0, Param: vitals.SpO2, Value: 80, Flags: vitals.ProbeOff})
	d = waitStatus(t, path, "probe off", func(d statusDoc) bool { return len(vital(d, "spo2").Flags) > 0 })
	if s := vital(d, "spo2"); s.Value.Valid || s.Flags[0] != "probe_off" || s.AgeS == nil {
		t.Fatalf("a probe-off reading shows %+v", s)
	}
	var out bytes.Buffer
	printStatus(&out, d)
	if !strings.Contains(out.String(), "spo2      --") || !strings.Contains(out.String(), "HIGH    spo2_low") {
		t.Fatalf("text:\n%s", out.String())
	}
}

// A client that connects and never reads, and more clients than the
// socket serves at once, never hold up the engine; a document too big for
// the socket's buffer is cut off at the connection's deadline, so the
// slots free again and the next client is served.
func TestStatusSlowClientsNeverBlockTheEngine(t *testing.T) {
	se := startStatusEngine(t)
	big := strings.Repeat("x", 4<<20) // far over a unix socket's buffer
	var huge atomic.Bool
	var served atomic.Int64 // huge documents being written
	huge.Store(true)
	path := se.serve(t, func(now time.Time) statusDoc {
		d := se.src.document(now)
		if huge.Load() {
			d.Chair = big
			served.Add(1)
		}
		return d
	})
	var hung []net.Conn
	for range 3 * statusMaxClients {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		hung = append(hung, c) // never read
	}
	t.Cleanup(func() {
		for _, c := range hung {
			c.Close()
		}
	})
	for served.Load() < statusMaxClients {
		time.Sleep(10 * time.Millisecond)
	}
	// Every slot is held by a client that does not read: one more is
	// closed at once, without a document, rather than queued.
	if _, _, err := fetchStatus(path); err == nil || !strings.Contains(err.Error(), "too many clients") {
		t.Fatalf("a client beyond the slots: %v, want closed without a document", err)
	}
	if n := served.Load(); n != statusMaxClients {
		t.Fatalf("%d huge documents served at once, want at most %d", n, statusMaxClients)
	}
	before := se.steps.Load()
	start := time.Now()
	for i := range 500 {
		se.send(t, vitals.Reading{Sensor: 0, Param: vitals.SpO2, Value: int16(90 + i%8)})
	}
	if took, n := time.Since(start), se.steps.Load()-before; took > 2*time.Second || n < 499 {
		t.Fatalf("the engine took %v for 500 readings (%d steps) beside hung status clients", took, n)
	}
	huge.Store(false)
	// The hung clients' slots free at their deadline: a new client is served.
	deadline := time.Now().Add(statusConnDeadline + 3*time.Second)
	for {
		_, d, err := fetchStatus(path)
		if err == nil && d.Chair == "chair-07" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no document %v after the hung clients' deadline: %v", statusConnDeadline+3*time.Second, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The socket is 0660 whatever the umask (the unit's is 0077), in the
// process's group; a stale one is replaced, a live one and a file that is
// not a socket are left alone; closing removes it.
func TestStatusSocketFile(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "status.sock")

	ln, err := listenStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode %v, want a socket 0660", fi.Mode())
	}
	if gid := fi.Sys().(*syscall.Stat_t).Gid; int(gid) != os.Getegid() {
		t.Fatalf("socket group %d, want the daemon's %d", gid, os.Getegid())
	}
	if _, err := listenStatus(path); !errors.Is(err, errStatusInUse) {
		t.Fatalf("a second listen on a live socket: %v, want errStatusInUse", err)
	}
	ln.SetUnlinkOnClose(false) // as a daemon killed with -9 leaves it
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal("the stale socket should still be there for the test:", err)
	}
	ln, err = listenStatus(path)
	if err != nil {
		t.Fatalf("a stale socket was not replaced: %v", err)
	}
	ln.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("closing left the socket file: %v", err)
	}

	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := listenStatus(plain); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("a plain file in the way: %v", err)
	}
	if b, _ := os.ReadFile(plain); string(b) != "keep" {
		t.Fatal("a plain file in the socket's place was touched")
	}
}
