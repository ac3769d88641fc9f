package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chairside/chairside/monitor/mqttlink/embedded"
)

// chair is one chair of the demo and the scenario its patient follows.
type chair struct {
	id       string
	scenario string
}

var chairs = []chair{{"chair-01", "calm"}, {"chair-02", "desaturation"}, {"chair-03", "hypertensive"}}

// stopWait is how long a part may take to stop after SIGTERM (CONTRACT §1
// gives every program 5 s).
const stopWait = 6 * time.Second

// demo runs everything until ctx ends.
func demo(ctx context.Context, o options, out io.Writer, log *slog.Logger) error {
	dir := o.dir
	keep := "" // kept of a temporary folder at the end: the records
	if dir == "" {
		tmp, err := os.MkdirTemp("", "chairside-demo-")
		if err != nil {
			return err
		}
		defer func() { removeExcept(tmp, keep) }()
		dir = tmp
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	protocolPath := filepath.Join(dir, "protocol.toml")
	if err := writeDemoProtocol(filepath.Join(o.configs, "ketamine-iv.toml"), protocolPath, o.speed); err != nil {
		return err
	}

	broker, err := embedded.Start(embedded.Options{Address: o.listen, Logger: log})
	if err != nil {
		log.Warn("broker address busy; using a free port", "address", o.listen, "err", err)
		if broker, err = embedded.Start(embedded.Options{}); err != nil {
			return err
		}
	}
	defer broker.Close()

	var procs []*exec.Cmd
	defer func() { stopAll(procs, log) }()
	exited := make(chan string, 2*len(chairs)+2) // a part that ended by itself: its log's tail

	// The view and the station subscribe before any chair publishes: the
	// embedded broker (mochi v2.7.9) reads a topic's retained-message path
	// without a lock while it answers a wildcard subscription, which races
	// with a retained publish to that topic (seen by go test -race).
	var v *view
	if o.terminal {
		var err error
		if v, err = newView(broker.URL(), o.speed, out); err != nil {
			return err
		}
		defer v.close()
	}
	// The recorder first, so it stops last and archives the chairs' final
	// records.
	recProc, rec, err := startRecords(o, dir, broker.URL(), out, exited)
	if err != nil {
		return err
	}
	if recProc != nil {
		procs = append(procs, recProc)
		keep = recordsFolder
	}
	st, err := startStation(o, dir, broker.URL(), exited)
	if err != nil {
		return err
	}
	procs = append(procs, st.cmd)
	stationAt := len(procs) - 1
	for _, c := range chairs {
		cdir := filepath.Join(dir, c.id)
		if err := os.MkdirAll(cdir, 0o700); err != nil {
			return err
		}
		sim, err := startVitalsim(o, c, cdir, exited)
		if err != nil {
			return err
		}
		procs = append(procs, sim)
		cfg, err := writeChairConfig(cdir, c, protocolPath, broker.URL())
		if err != nil {
			return err
		}
		daemon, err := start(cdir, "chairside", exited, filepath.Join(o.bin, "chairside"), "-config", cfg)
		if err != nil {
			return err
		}
		procs = append(procs, daemon)
	}
	// stopAll goes backwards: the station stops first, so the daemons' stop
	// raises no chair_offline that nobody is left to see, and the recorder
	// last.
	procs = append(append(procs[:stationAt:stationAt], procs[stationAt+1:]...), st.cmd)

	fmt.Fprintf(out, "chairside demo %s: %d chairs (%s), scenarios and schedule %gx faster than life\n",
		time.Now().Format("15:04:05"), len(chairs), chairList(), o.speed)
	fmt.Fprintf(out, "MQTT broker: %s  (subscribe to chairside/# to see every reading, alarm and session event)\n", broker.URL())
	st.banner(out)
	fmt.Fprintf(out, "files and logs: %s\nCtrl-C stops it all.\n\n", dir)

	if v == nil {
		err = st.follow(ctx, o.every, out, exited)
	} else {
		err = v.run(ctx, o.every, exited)
	}
	stopAll(procs, log)
	procs = nil
	rec.printExport(out)
	return err
}

func chairList() string {
	s := ""
	for i, c := range chairs {
		if i > 0 {
			s += ", "
		}
		s += c.id + " " + c.scenario
	}
	return s
}

// startVitalsim emulates the chair's Nonin and SunTech on ptys linked in cdir.
func startVitalsim(o options, c chair, cdir string, exited chan<- string) (*exec.Cmd, error) {
	scenario := filepath.Join(o.configs, "scenarios", c.scenario+".toml")
	nonin, suntech := filepath.Join(cdir, "nonin"), filepath.Join(cdir, "suntech")
	cmd, err := start(cdir, "vitalsim", exited, filepath.Join(o.bin, "vitalsim"), "-scenario", scenario,
		"-nonin", "pty:"+nonin, "-suntech", "pty:"+suntech, "-speed", fmt.Sprint(o.speed))
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, e1 := os.Stat(nonin)
		_, e2 := os.Stat(suntech)
		if e1 == nil && e2 == nil {
			return cmd, nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			log, _ := os.ReadFile(filepath.Join(cdir, "vitalsim.log"))
			return nil, fmt.Errorf("vitalsim for %s made no ptys within 10 s:\n%s", c.id, log)
		}
	}
}

// writeChairConfig writes the chair's chairside.toml: the real Nonin and
// SunTech drivers on vitalsim's ptys, its own store, no GPIO.
func writeChairConfig(cdir string, c chair, protocol, broker string) (string, error) {
	text := fmt.Sprintf(`# Written by the demo: real drivers on vitalsim's pseudo-terminals.
chair = %q
protocol = %q

[mqtt]
broker = %q
keepalive = "10s"

[store]
dir = "store"

[[sensor]]
driver = "nonin"
port = "nonin"
format = 2
stale_after = "10s"

[[sensor]]
driver = "suntech"
port = "suntech"
stale_after = "30s"

[annunciator]
kind = "none"   # no buzzer or lamps on a desktop: the view below stands in

[commands]
remote = ["ack", "nibp_now", "mark", "session_start", "infusion_start", "infusion_end", "session_end", "limits"]
max_age = "30s"
`, c.id, protocol, broker)
	path := filepath.Join(cdir, "chairside.toml")
	return path, os.WriteFile(path, []byte(text), 0o600)
}

// start runs a part with its log in cdir/<name>.log. If it ends before
// stopAll stops it, the tail of its log goes to exited.
func start(cdir, name string, exited chan<- string, bin string, args ...string) (*exec.Cmd, error) {
	logPath := filepath.Join(cdir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = cdir
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithDemo(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		err := cmd.Wait()
		logf.Close()
		if stopping.Load() {
			return
		}
		tail, _ := os.ReadFile(logPath)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		select {
		case exited <- fmt.Sprintf("%s in %s ended by itself (%v); its log ends:\n%s", name, cdir, err, tail):
		default:
		}
	}()
	return cmd, nil
}

// stopping is set once stopAll begins: parts ending then are expected to.
var stopping atomic.Bool

// stopAll ends the parts, daemons first (they abort the NIBP and publish
// offline while the emulators still answer), each within stopWait.
func stopAll(procs []*exec.Cmd, log *slog.Logger) {
	stopping.Store(true)
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if p.Process == nil {
			continue
		}
		_ = p.Process.Signal(syscall.SIGTERM)
		deadline := time.Now().Add(stopWait)
		for !exited(p) {
			if time.Now().After(deadline) {
				log.Warn("did not stop in time; killed", "part", filepath.Base(p.Path), "pid", p.Process.Pid)
				_ = p.Process.Kill()
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// exited says whether p has ended (signal 0 fails once it is gone and reaped).
func exited(p *exec.Cmd) bool {
	err := p.Process.Signal(syscall.Signal(0))
	return errors.Is(err, os.ErrProcessDone) || err != nil
}
