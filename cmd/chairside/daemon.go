package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/chairside/chairside/cmd/internal/buildinfo"
	"github.com/chairside/chairside/drivers/gpio"
	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/alarmlog"
	"github.com/chairside/chairside/monitor/config"
	"github.com/chairside/chairside/monitor/delivery"
	"github.com/chairside/chairside/monitor/mqttlink"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// shutdownBudget is how long the daemon may take to stop (CONTRACT §1: 5 s).
const shutdownBudget = 4 * time.Second

// daemon is one run of chairside: the parts and the goroutines that join them.
type daemon struct {
	cfg    *config.Config
	log    *slog.Logger
	st     *store.Store // nil: running without a store (store_fault raised)
	faults *delivery.FaultRaiser
	engine *monitor.Engine
	in     chan any
	ctx    context.Context // runCtx: outlives the signal's ctx by the shutdown
	dl     *delivery.Delivery
	link   *mqttlink.Link
	ann    annunciator
	nibp   nibpDriver    // nil without an NIBP module
	synced atomic.Bool   // the system clock is NTP-synchronised
	busy   atomic.Uint64 // commands refused as busy before the engine saw them
	board  statusBoard   // the engine's view for the status socket (statusserver.go)

	mu    sync.Mutex
	state wire.State // the state message's fields (heartbeat, Will, offline)
}

// runDaemon runs until ctx ends (SIGTERM/SIGINT) and returns the exit code.
// env, for tests only, replaces how the drivers reach the machine.
func runDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger, env ...sensorEnv) int {
	started := time.Now()
	// The shutdown's watchdog (below) is stopped only once everything,
	// deferred closes included, has returned: first deferred, last run.
	var hung *time.Timer
	defer func() {
		if hung != nil {
			hung.Stop()
		}
	}()
	d := &daemon{cfg: cfg, log: log, in: make(chan any, 1024)}
	runCtx, stop := context.WithCancel(context.Background()) // outlives ctx by the shutdown
	defer stop()
	d.ctx = runCtx

	var initial []monitor.ExternalCondition
	d.faults = delivery.NewFaultRaiser(log.With("part", "store"), func(msg string) {
		d.external(runCtx, monitor.StoreFault, true, msg)
	})
	storeOpts := store.Options{
		Root:    cfg.MQTT.TopicPrefix + "/" + cfg.Chair,
		Logger:  log.With("part", "store"),
		OnFault: d.faults.Fault,
		// Records the failing disk holds go out at once, without a seq;
		// d.dl exists before the first Commit (its writer makes them).
		OnNotDurable: func(recs []store.Record) { d.dl.NotDurable(recs) },
	}
	st, err := delivery.OpenStore(cfg.Store.Dir, storeOpts, delivery.OpenBound)
	if errors.Is(err, store.ErrCorrupt) {
		// Keep the damaged file for the engineers, and keep recording in a
		// fresh one: the fault stays raised until someone looks.
		path := filepath.Join(cfg.Store.Dir, store.FileName)
		aside := fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		if rerr := os.Rename(path, aside); rerr == nil {
			msg := fmt.Sprintf("store: %v; moved aside to %s and started a new store", err, aside)
			log.Error("store file corrupt", "err", err, "moved_to", aside)
			initial = append(initial, monitor.ExternalCondition{Condition: monitor.StoreFault, Present: true, Message: msg})
			st, err = delivery.OpenStore(cfg.Store.Dir, storeOpts, delivery.OpenBound)
		}
	}
	// The snapshot to restore the session from: the store's, or, when it
	// cannot be opened for writing (a read-only file or file system), the
	// same file opened read-only.
	var load func() ([]byte, error)
	var legacy func() ([]alarmlog.Entry, error) // the store's older alarm-log entries
	boot, stream := uint64(0), "nostore"
	if err != nil {
		log.Error("store unavailable; alarms are published without it", "err", err)
		initial = append(initial, monitor.ExternalCondition{Condition: monitor.StoreFault, Present: true, Message: "store: " + err.Error()})
		if !errors.Is(err, store.ErrCorrupt) {
			load = readOnlySnapshot(cfg.Store.Dir, delivery.OpenBound)
		}
	} else {
		d.st = st
		defer st.Close()
		load = st.LoadSnapshot
		legacy = delivery.LegacyEntries(st)
		boot, stream = st.Boot(), st.Stream()
	}
	log = log.With("chair", cfg.Chair, "boot", boot)
	d.log = log

	restored, faults, err := d.startEngine(boot, load)
	if err != nil {
		log.Error("engine", "err", err)
		return exitConfig
	}
	for _, msg := range faults {
		initial = append(initial, monitor.ExternalCondition{Condition: monitor.StoreFault, Present: true, Message: msg})
	}

	password := ""
	if cfg.MQTT.PasswordFile != "" {
		b, err := os.ReadFile(cfg.MQTT.PasswordFile)
		if err != nil {
			log.Error("mqtt password_file unreadable", "err", err)
			return exitConfig
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	root := cfg.MQTT.TopicPrefix + "/" + cfg.Chair
	d.state = wire.State{V: wire.Version, Boot: boot, Stream: stream, Version: buildinfo.Version(), Phase: d.engine.Phase().String(), Session: d.engine.SessionID()}
	d.link, err = mqttlink.New(mqttlink.Config{
		Broker: cfg.MQTT.Broker, ClientID: "chairside-" + cfg.Chair, Username: cfg.MQTT.Username, Password: password,
		CAFile: cfg.MQTT.CAFile, CertFile: cfg.MQTT.CertFile, KeyFile: cfg.MQTT.KeyFile, Keepalive: cfg.MQTT.Keepalive,
		Will: &mqttlink.Message{Topic: root + "/" + wire.TopicState, Payload: d.willPayload(), Retained: true, QoS: 1},
		Offline: func() *mqttlink.Message {
			return &mqttlink.Message{Topic: root + "/" + wire.TopicState, Payload: d.statePayload(false), Retained: true, QoS: 1}
		},
		HeartbeatTopic: root + "/" + wire.TopicState,
		Heartbeat:      func() []byte { return d.statePayload(true) },
		Logger:         log.With("part", "mqtt"),
	})
	if err != nil {
		log.Error("mqtt", "err", err)
		return exitConfig
	}
	var outbox delivery.Store // a nil *store.Store must not become a non-nil Store
	if d.st != nil {
		outbox = d.st
	}
	d.dl = delivery.New(delivery.Config{Root: root, Stream: stream, Boot: boot, Store: outbox,
		AlarmLog: alarmlog.New(cfg.Store.Dir, 0), Legacy: legacy, Link: d.link,
		ClockSynced: d.synced.Load, Fault: d.faults.Fault, Logger: log})
	d.dl.Start(runCtx)
	d.link.OnConnect(d.dl.Connected)
	if err := d.link.SubscribeOrRefuse(root+"/"+wire.TopicCmd, 1, d.onCommand, d.onCommandFull); err != nil {
		log.Error("mqtt subscribe", "err", err)
		return exitConfig
	}

	sink := engineSink{ctx: runCtx, in: d.in}
	var senv sensorEnv
	if len(env) > 0 {
		senv = env[0]
	}
	sensors, err := buildSensors(cfg, sink, log.With("part", "sensor"), senv)
	if err != nil {
		log.Error("sensors", "err", err)
		return exitConfig
	}
	d.nibp = sensors.nibp
	d.ann = d.annunciator(runCtx)

	var wg sync.WaitGroup
	goRun := func(name string, f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f(); log.Debug("stopped", "part", name) }()
	}
	for _, r := range sensors.runners {
		goRun(r.String(), func() {
			if err := r.Run(runCtx); err != nil {
				log.Error("sensor driver stopped", "sensor", r.String(), "err", err)
			}
		})
	}
	linkDone := make(chan struct{})
	linkCtx, stopLink := context.WithCancel(context.Background())
	defer stopLink()
	go func() { defer close(linkDone); _ = d.link.Run(linkCtx) }()
	goRun("health", func() { d.watch(runCtx) })

	for _, c := range initial {
		d.in <- c
	}
	d.handle(restored)
	d.board.step(d.engine, time.Now()) // before the loop owns the engine
	d.startStatus(runCtx, started, boot, stream)
	_, _ = sd.SdNotify(false, sd.SdNotifyReady)
	log.Info("chairside running", "version", buildinfo.Version(), "gomaxprocs", runtime.GOMAXPROCS(0), "stream", stream, "session", d.engine.SessionID(), "phase", d.engine.Phase().String())

	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		_ = monitor.RunLoop(ctx, d.engine, monitor.RealClock{}, d.in, d.handle, d.afterStep())
	}()
	<-loopDone

	// Shutdown: abort a measurement, let the writer flush, publish offline.
	log.Info("stopping")
	_, _ = sd.SdNotify(false, sd.SdNotifyStopping)
	deadline := time.Now().Add(shutdownBudget)
	// The contract's 5 s hold even if a part hangs: the store is crash-safe,
	// so exiting is safe; the goroutines go to the log for the engineers.
	// Stopped only when runDaemon has returned (the deferred store Close
	// included); main exits then anyway, a test process goes on.
	hung = time.AfterFunc(shutdownBudget+500*time.Millisecond, func() {
		buf := make([]byte, 1<<20)
		log.Error("shutdown did not finish in time; exiting", "goroutines", string(buf[:runtime.Stack(buf, true)]))
		os.Exit(exitRuntime)
	})
	if sensors.nibp != nil {
		_ = sensors.nibp.Abort()
		time.Sleep(200 * time.Millisecond) // the abort command reaches the module
	}
	d.dl.Drain(d.engine, deadline.Add(-time.Second))
	stop()
	stopLink()
	waitUntil(linkDone, deadline)
	waitGroupUntil(&wg, deadline)
	waitUntil(d.dl.Done(), deadline)
	if d.st != nil {
		if err := d.st.Flush(); err != nil {
			log.Error("store flush", "err", err)
		}
		ss := d.st.Stats()
		log.Info("store stats", "uptime_s", time.Since(started).Seconds(), "bytes_written", ss.BytesWritten,
			"commits", ss.Commits, "records", ss.Records, "gaps", ss.Gaps, "file_size", ss.FileSize)
	}
	log.Info("stopped")
	return exitOK
}

func waitUntil(ch <-chan struct{}, deadline time.Time) {
	select {
	case <-ch:
	case <-time.After(time.Until(deadline)):
	}
}

func waitGroupUntil(wg *sync.WaitGroup, deadline time.Time) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	waitUntil(done, deadline)
}

// startEngine restores the saved session from load (nil: there is none to
// read), or starts idle. It returns the restore's events and the store
// faults met (to raise store_fault from the start).
func (d *daemon) startEngine(boot uint64, load func() ([]byte, error)) ([]monitor.Event, []string, error) {
	e, evs, faults, err := restoreSession(d.cfg.Engine(boot), load, time.Now(), d.log)
	d.engine = e
	return evs, faults, err
}

// afterStep hands the step to delivery (its snapshot and replies; it never
// waits on the disk) and pings the systemd watchdog: the watchdog sees the
// engine loop itself, not a side goroutine.
func (d *daemon) afterStep() func(*monitor.Engine) {
	var lastPing time.Time
	var lastStatus string
	return func(e *monitor.Engine) {
		now := time.Now()
		d.dl.AfterStep(e, now)
		d.board.step(e, now)
		if now.Sub(lastPing) >= time.Second {
			lastPing = now
			_, _ = sd.SdNotify(false, sd.SdNotifyWatchdog)
			if st := d.status(e); st != lastStatus {
				lastStatus = st
				_, _ = sd.SdNotify(false, "STATUS="+st)
			}
			d.setSession(e.SessionID(), e.Phase().String())
		}
	}
}

// handle takes one step's events: delivery's go to it (records, alarm log,
// replies, live state); then the NIBP requests go to the driver and the
// annunciation to the lamps and buzzer.
func (d *daemon) handle(evs []monitor.Event) {
	d.dl.Handle(evs)
	d.board.observe(evs)
	for _, ev := range evs {
		switch v := ev.(type) {
		case wire.Session:
			d.setSession(v.ID, v.Phase)
		case monitor.NIBPStart:
			d.startNIBP(v)
		case monitor.NIBPAbort:
			if d.nibp != nil {
				if err := d.nibp.Abort(); err != nil {
					d.log.Info("nibp abort", "request", v.Request, "reason", v.Reason, "err", err)
				}
			}
		case monitor.Annunciation:
			d.ann.Show(v)
		case monitor.Reminder:
			d.ann.Remind()
		}
	}
}

// setSession keeps the state message's session and phase current.
func (d *daemon) setSession(id, phase string) {
	d.mu.Lock()
	d.state.Session, d.state.Phase = id, phase
	d.mu.Unlock()
}

// startNIBP asks the NIBP driver for a measurement; a start that fails is
// told to the engine at once rather than left to its time-out.
func (d *daemon) startNIBP(s monitor.NIBPStart) {
	if d.nibp == nil {
		return
	}
	ctx := d.ctx
	if err := d.nibp.Start(ctx, s.Request); err != nil {
		go func() {
			select {
			case d.in <- vitals.Result{Sensor: s.Sensor, Request: s.Request, Failure: "could not start: " + err.Error()}:
			case <-ctx.Done():
			}
		}()
	}
}

// status is the one line systemctl status shows: the session, the link
// and the store.
func (d *daemon) status(e *monitor.Engine) string {
	st := "idle"
	if id := e.SessionID(); id != "" {
		st = fmt.Sprintf("session %s, %s", id, e.Phase())
	}
	if d.link.Up() {
		st += "; broker connected"
	} else {
		st += "; broker not connected"
	}
	if d.st == nil {
		st += "; no store"
	}
	return st
}

// willPayload is the MQTT Will: registered once at connect and sent by the
// broker at some later time, so it carries only what stays true (no t,
// session or phase; see wire.State.Will).
func (d *daemon) willPayload() []byte {
	d.mu.Lock()
	s := d.state
	d.mu.Unlock()
	b, _ := json.Marshal(s.Will())
	return b
}

// statePayload is the retained state message (heartbeat, clean offline).
func (d *daemon) statePayload(online bool) []byte {
	d.mu.Lock()
	s := d.state
	d.mu.Unlock()
	s.Online, s.T, s.ClockSynced = online, wire.At(time.Now()), d.synced.Load()
	b, _ := json.Marshal(s)
	return b
}

// onCommand (the link's delivery goroutine) parses a command from the
// station and hands it to the engine, which answers every one exactly once:
// applied, refused, or refused as malformed (with the id when it could be
// read, else an empty one) and logged in the alarm log. When the engine
// cannot take it within commandWait, it is refused here as busy, so the
// station never waits for a reply that will not come.
func (d *daemon) onCommand(m mqttlink.Message) {
	c, err := wire.ParseCommand(m.Payload)
	cmd := monitor.Command{Command: c, Retained: m.Retained}
	if err != nil {
		d.log.Warn("command refused", "err", err, "id", c.ID)
		cmd.Invalid = err
	}
	t := time.NewTimer(commandWait)
	defer t.Stop()
	select {
	case d.in <- cmd:
	case <-t.C:
		d.refuseBusy(c.ID, "busy: the chair is behind; send it again later")
	}
}

// commandWait is how long a command may wait for the engine before it is
// refused as busy.
const commandWait = time.Second

// onCommandFull (paho's goroutine) refuses a command that found the link's
// inbox full: commands come faster than the chair takes them. It only
// peeks at the id and queues the reply: it must not block paho.
func (d *daemon) onCommandFull(m mqttlink.Message) {
	d.refuseBusy(wire.PeekCommandID(m.Payload), "busy: too many commands at once; send it again later")
}

// refuseBusy answers a command the engine never saw (so it is neither
// applied nor remembered: the station may send it again). These go to the
// daemon's log, counted, not to the alarm log: a flood would fill it.
func (d *daemon) refuseBusy(id, why string) {
	d.dl.ReplyNow(wire.Reply{V: wire.Version, ID: id, OK: false, Error: why})
	if n := d.busy.Add(1); n == 1 || n%100 == 0 {
		d.log.Warn("command refused: busy", "id", id, "reason", why, "busy_total", n)
	}
}

// external reports a daemon-detected condition to the engine without
// blocking the caller (it may be a store or link callback).
func (d *daemon) external(ctx context.Context, cond string, present bool, msg string) {
	go func() {
		select {
		case d.in <- monitor.ExternalCondition{Condition: cond, Present: present, Message: msg}:
		case <-ctx.Done():
		}
	}()
}

// watch follows the link's health and the clock's synchronisation.
func (d *daemon) watch(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	lastSynced, lastErr := -1, ""
	check := func() {
		ok, err := clockSynced()
		msg := "the system clock is not NTP-synchronised: times are marked clock_synced=false"
		v := 0
		switch {
		case err != nil:
			// A check that cannot run counts as unsynchronised, and says why
			// (a sandbox refusing adjtimex is a deployment fault to fix).
			ok, v = false, 2
			msg = "the clock's synchronisation cannot be read (" + err.Error() + "): times are marked clock_synced=false"
			if err.Error() != lastErr {
				d.log.Warn("clock check failed", "err", err)
			}
			lastErr = err.Error()
		case ok:
			v, lastErr = 1, ""
		default:
			lastErr = ""
		}
		d.synced.Store(ok)
		if v != lastSynced {
			lastSynced = v
			d.external(ctx, monitor.ClockUnsynced, !ok, msg)
		}
	}
	check()
	for {
		select {
		case <-ctx.Done():
			return
		case h, ok := <-d.link.Health():
			if !ok {
				return // the link has shut down
			}
			msg := "MQTT link down: " + h.Reason
			d.log.Warn("link health", "down", h.Down, "reason", h.Reason)
			d.external(ctx, monitor.LinkDown, h.Down, msg)
			if !h.Down {
				// Delivering again (an ACL fixed): what was acknowledged and
				// dropped meanwhile goes out now, not at the next sweep.
				d.dl.Resend()
			}
		case <-t.C:
			check()
		}
	}
}

// annunciator opens the bedside signals, or logs them with kind = "none".
// A GPIO that fails raises annunciator_fault and the log stands in.
func (d *daemon) annunciator(ctx context.Context) annunciator {
	a := d.cfg.Annunciator
	logAnn := logAnnunciator{log: d.log.With("part", "annunciator")}
	if a.Kind != "gpio" {
		return logAnn
	}
	pins, err := gpio.Lookup(gpio.Names{Buzzer: a.Buzzer, RedLED: a.RedLED, YellowLED: a.YellowLED, AckButton: a.AckButton}, d.log)
	if err != nil {
		d.log.Error("annunciator unavailable", "err", err)
		d.in <- monitor.ExternalCondition{Condition: monitor.AnnunciatorFault, Present: true, Message: "annunciator: " + err.Error()}
		return logAnn
	}
	g := gpio.New(pins, gpio.Opts{
		Logger: d.log.With("part", "annunciator"),
		OnPress: func(p gpio.Press) {
			select {
			case d.in <- buttonCommand(p, time.Now()):
			case <-ctx.Done():
			}
		},
		OnFault: func(err error) {
			msg := ""
			if err != nil {
				msg = "annunciator: " + err.Error()
			}
			d.external(ctx, monitor.AnnunciatorFault, err != nil, msg)
		},
	})
	go func() { _ = g.Run(ctx) }()
	return g
}
