package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/chairside/chairside/cmd/internal/buildinfo"
	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/config"
	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/wire"
)

// statusEvery is how often the engine publishes its view for the status
// socket when nothing but readings changed; an alarm, session or NIBP
// change publishes it at the end of its step.
const statusEvery = 250 * time.Millisecond

// boardView is what the engine publishes for the status socket.
type boardView struct {
	live      monitor.Live
	nibp      *wire.NIBP // the last NIBP record since the daemon started
	published time.Time
}

// statusBoard is where the engine leaves its view for the status socket.
// The engine never waits on a reader: it only stores a pointer to a fresh
// copy; readers load it.
type statusBoard struct {
	view atomic.Pointer[boardView]

	// The engine goroutine's own.
	nibp    *wire.NIBP
	changed bool
	last    time.Time
}

// observe notes the step's events (engine goroutine): the last NIBP
// record, and whether anything but vitals changed.
func (b *statusBoard) observe(evs []monitor.Event) {
	for _, ev := range evs {
		switch v := ev.(type) {
		case wire.Vital:
		case wire.NIBP:
			n := v
			b.nibp, b.changed = &n, true
		default:
			b.changed = true
		}
	}
}

// step publishes the engine's view (engine goroutine, after a step) when
// something changed or statusEvery has passed.
func (b *statusBoard) step(e *monitor.Engine, now time.Time) {
	if !b.changed && now.Sub(b.last) < statusEvery && b.view.Load() != nil {
		return
	}
	b.changed, b.last = false, now
	b.view.Store(&boardView{live: e.Live(), nibp: b.nibp, published: now})
}

// statusSource is what the status document is made of besides the
// engine's view; the daemon gives its parts, a test fakes them.
type statusSource struct {
	chair, broker, storeDir string
	boot                    uint64
	stream                  string
	started                 time.Time
	sensors                 []sensorView // driver, port and roles; the rest is filled in
	board                   *statusBoard
	link                    func() linkView
	backlog                 func() backlogView // without the store's part
	store                   func() (store.Stats, bool)
	synced                  func() bool
	busy                    func() uint64
}

// document makes the status document at now. It never touches the engine:
// it reads the board and the parts' own thread-safe counters.
func (s *statusSource) document(now time.Time) statusDoc {
	d := statusDoc{V: statusFormat, T: wire.At(now), Chair: s.chair, Version: buildinfo.Version(), PID: os.Getpid(),
		Boot: s.boot, Stream: s.stream, Started: wire.At(s.started), UptimeS: seconds(now.Sub(s.started)),
		Alarms: []wire.Alarm{}, Vitals: []vitalView{}, Sensors: []sensorView{}}
	if v := s.board.view.Load(); v != nil {
		l := v.live
		d.Engine = engineView{Published: wire.At(v.published), AgeS: seconds(now.Sub(v.published))}
		d.Session = sessionView{ID: l.Session, Encounter: l.Encounter, Phase: l.Phase, Started: wire.At(l.Started), PhaseStarted: wire.At(l.PhaseStarted)}
		d.Alarms = append(d.Alarms, l.Alarms.Alarms...)
		slices.SortStableFunc(d.Alarms, func(a, b wire.Alarm) int {
			pa, _ := protocol.ParsePriority(a.Priority)
			pb, _ := protocol.ParsePriority(b.Priority)
			return cmp.Or(cmp.Compare(pb, pa), a.Started.Compare(b.Started.Time))
		})
		d.AudioPausedUntil = l.Alarms.AudioPausedUntil
		oxiSource := ""
		for _, sn := range l.Sensors {
			if sn.Oximeter {
				oxiSource = sn.Source
			}
		}
		for _, r := range l.Readings {
			d.Vitals = append(d.Vitals, vitalView{Param: r.Param, Unit: r.Unit, Value: r.Value, T: wire.At(r.At),
				AgeS: age(now, r.At), Flags: r.Flags, Source: oxiSource})
		}
		d.NIBP = nibpView{Last: v.nibp, Next: wire.At(l.NIBP.Next), InFlight: l.NIBP.InFlight,
			LastSuccess: wire.At(l.NIBP.LastSuccess), Failures: l.NIBP.Failures}
		if v.nibp != nil {
			d.NIBP.AgeS = age(now, v.nibp.T.Time)
		}
		for i, sn := range l.Sensors {
			sv := sensorView{Sensor: i + 1, Driver: sn.Source}
			if i < len(s.sensors) {
				sv = s.sensors[i]
			}
			sv.LastData, sv.AgeS = wire.At(sn.LastData), age(now, sn.LastData)
			sv.Frames, sv.Garbled, sv.Valid = sn.Frames, sn.Garbled, sn.Valid
			d.Sensors = append(d.Sensors, sv)
		}
	}
	d.Link = s.link()
	d.Link.Broker = s.broker
	d.Backlog = s.backlog()
	if st, ok := s.store(); ok {
		d.Store = &storeView{Dir: s.storeDir, FileSize: st.FileSize, Bytes: st.Bytes, MaxBytes: store.DefaultMaxBytes, Full: st.Full,
			Gaps: st.Gaps, Dropped: st.Dropped, Refused: st.Refused, Corrupt: st.Corrupt, Commits: st.Commits}
		d.Backlog.StoreRecords, d.Backlog.StoreBytes, d.Backlog.StoreQueued = st.Records, st.Bytes, st.Queued
	}
	d.Backlog.Records = d.Backlog.StoreRecords + int64(d.Backlog.Memory)
	d.Clock.Synced = s.synced()
	d.CommandsBusy = s.busy()
	return d
}

// age is the seconds from t to now; nil for a zero t (never).
func age(now, t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	a := seconds(now.Sub(t))
	return &a
}

// seconds rounds d to milliseconds, in seconds.
func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}

// Bounds of the status socket: a client gets its document within
// statusConnDeadline or the connection is closed; at most
// statusMaxClients are served at once (more are closed at once), so a
// flood of clients costs a bounded memory and never reaches the engine.
const (
	statusConnDeadline = 2 * time.Second
	statusMaxClients   = 4
)

// statusSocketMode: the service's user and group (chairside) may connect;
// an engineer is let in by the group (usermod -aG chairside) or sudo.
const statusSocketMode = 0o660

// errStatusInUse says that another process answers on the socket's path.
var errStatusInUse = errors.New("another process answers on the status socket")

// listenStatus listens on path. A socket file left by a daemon that did not
// stop cleanly is removed; one another process answers on is left alone
// (errStatusInUse), and so is a file that is not a socket.
func listenStatus(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("status socket %s: a file that is not a socket is in the way; not removed", path)
		}
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("status socket %s: %w", path, errStatusInUse)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("status socket %s: remove the stale one: %w", path, err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	// The unit's UMask=0077 made it 0600 (narrower, never wider, in between).
	if err := os.Chmod(path, statusSocketMode); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("status socket: chmod %s: %w", path, err)
	}
	return ln, nil
}

// serveStatus answers every connection with one JSON document and closes
// it; it reads nothing from the client. It returns when ctx ends (and
// removes the socket file).
func serveStatus(ctx context.Context, ln *net.UnixListener, doc func(time.Time) statusDoc, log *slog.Logger) {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	slots := make(chan struct{}, statusMaxClients)
	var refused uint64
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors or the like: wait, do not spin.
			log.Warn("status socket: accept", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			_ = c.Close()
			if refused++; refused == 1 || refused%100 == 0 {
				log.Warn("status socket: too many clients at once; closed", "refused_total", refused)
			}
			continue
		}
		go func() {
			defer func() { <-slots }()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(statusConnDeadline))
			b, err := json.Marshal(doc(time.Now()))
			if err != nil {
				log.Error("status document", "err", err)
				return
			}
			_, _ = c.Write(append(b, '\n'))
		}()
	}
}

// startStatus serves the status socket of the config's [status] socket
// until ctx ends; a socket that cannot be made is logged, never fatal: the
// daemon monitors without it.
func (d *daemon) startStatus(ctx context.Context, started time.Time, boot uint64, stream string) {
	path := d.cfg.Status.Socket
	if path == "" {
		d.log.Info("status socket off ([status] socket = \"\"): chairside status cannot reach this daemon")
		return
	}
	ln, err := listenStatus(path)
	if err != nil {
		d.log.Warn("status socket unavailable: chairside status cannot reach this daemon", "err", err)
		return
	}
	src := &statusSource{chair: d.cfg.Chair, broker: d.cfg.MQTT.Broker, storeDir: d.cfg.Store.Dir, boot: boot, stream: stream,
		started: started, board: &d.board, synced: d.synced.Load, busy: d.busy.Load}
	for _, s := range d.cfg.Sensors {
		sv := sensorView{Sensor: len(src.sensors) + 1, Driver: s.Driver, Port: s.Port, Roles: []string{}}
		if s.Port == "" {
			sv.Port = s.I2CBus
		}
		drv, _ := config.LookupDriver(s.Driver)
		if drv.Roles&monitor.RoleOximeter != 0 {
			sv.Roles = append(sv.Roles, "oximeter")
		}
		if drv.Roles&monitor.RoleNIBP != 0 {
			sv.Roles = append(sv.Roles, "nibp")
		}
		src.sensors = append(src.sensors, sv)
	}
	src.link = func() linkView {
		h := d.link.Status()
		v := linkView{Connected: d.link.Up(), Down: h.Down, Reason: h.Reason, Since: wire.At(h.Since)}
		if err := d.link.LastError(); err != nil {
			v.LastError = err.Error()
		}
		return v
	}
	src.backlog = func() backlogView {
		b := d.dl.Backlog()
		return backlogView{Memory: b.Memory, Writing: b.Writing, Publishing: b.Live, Awaiting: b.Awaiting}
	}
	src.store = func() (store.Stats, bool) {
		if d.st == nil {
			return store.Stats{}, false
		}
		return d.st.Stats(), true
	}
	d.log.Info("status socket", "path", path)
	go serveStatus(ctx, ln, src.document, d.log.With("part", "status"))
}
