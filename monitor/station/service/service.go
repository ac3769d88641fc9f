// Package service runs the station: the MQTT subscription to every chair,
// the model and its timers, the history store and the web server, each with
// the lifetime of one context. cmd/station is a thin main around Run.
package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chairside/chairside/monitor/mqttlink"
	"github.com/chairside/chairside/monitor/station"
	"github.com/chairside/chairside/monitor/station/config"
	"github.com/chairside/chairside/monitor/station/history"
	"github.com/chairside/chairside/monitor/station/web"
)

// DefaultLinkDownAfter is how long the station's own broker connection may
// be down before station_link_down: short, since while it is down the
// station shows nothing new of any chair.
const DefaultLinkDownAfter = 5 * time.Second

// Options are what Run needs beyond the config.
type Options struct {
	Config *config.Config
	Page   http.Handler // the web page (package page); nil: / says it is not built in
	Logger *slog.Logger
	Now    func() time.Time

	LinkDownAfter time.Duration // default DefaultLinkDownAfter
	HoleTimeout   time.Duration // default station.DefaultHoleTimeout
	CmdTimeout    time.Duration // default web.DefaultCmdTimeout
	// Listening, when set, is told the address the web server listens on
	// (tests listen on port 0).
	Listening func(addr string)
	// Started, when set, is given the running parts (tests).
	Started func(*Parts)
	// Ready, when set, is called once the store is open and the web
	// server listens (cmd/station tells systemd READY=1).
	Ready func()
	// Alive, when set, is called about once a second from the timer loop
	// after the model's timers ran and only while the push to the pages
	// is turning, with a one-line status (cmd/station pings the systemd
	// watchdog with it): a stuck model or broadcaster stops the calls.
	Alive func(status string)
}

// Parts are the station's running parts.
type Parts struct {
	Model   *station.Model
	History *history.History
	Link    *mqttlink.Link
	Web     *web.Server
}

// HistoryFile is the history's file name in store_dir.
const HistoryFile = "station.db"

// Run runs the station until ctx ends, then stops every part within about
// 4 s. It returns an error when a part cannot start (bad store, port in
// use, broker settings).
func Run(ctx context.Context, o Options) error {
	cfg := o.Config
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	if o.LinkDownAfter == 0 {
		o.LinkDownAfter = DefaultLinkDownAfter
	}
	if err := os.MkdirAll(cfg.StoreDir, 0o700); err != nil {
		return fmt.Errorf("store_dir: %w", err)
	}
	hist, err := history.Open(filepath.Join(cfg.StoreDir, HistoryFile), history.Options{Keep: cfg.Keep, Logger: log.With("part", "history"), Now: now})
	if err != nil {
		return err
	}
	password := ""
	if cfg.MQTT.PasswordFile != "" {
		b, err := os.ReadFile(cfg.MQTT.PasswordFile)
		if err != nil {
			hist.Close()
			return fmt.Errorf("mqtt password_file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	link, err := mqttlink.New(mqttlink.Config{
		Broker: cfg.MQTT.Broker, ClientID: "station-" + cfg.Name, Username: cfg.MQTT.Username, Password: password,
		CAFile: cfg.MQTT.CAFile, CertFile: cfg.MQTT.CertFile, KeyFile: cfg.MQTT.KeyFile, Keepalive: cfg.MQTT.Keepalive,
		LinkDownAfter: o.LinkDownAfter, PersistentSession: true,
		// 500 chairs send about 1 500 messages a second, and a fresh
		// subscription brings every retained topic at once.
		InboundBuffer: 20000,
		Logger:        log.With("part", "mqtt"), Now: now,
	})
	if err != nil {
		hist.Close()
		return err
	}
	model := station.NewModel(station.Config{Prefix: cfg.TopicPrefix, OfflineAfter: cfg.OfflineAfter, HoleTimeout: o.HoleTimeout})
	cmdr := station.NewCommander(cfg.TopicPrefix, func(ctx context.Context, topic string, payload []byte) error {
		done := make(chan error, 1)
		link.Publish(topic, 1, false, payload, func(err error) { done <- err })
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}, now)
	refusals := &refusalLog{log: log.With("part", "mqtt-in"), now: now}
	if err := link.Subscribe(cfg.TopicPrefix+"/+/#", 1, func(m mqttlink.Message) {
		eff, err := model.Handle(m.Topic, m.Payload, m.Retained, now())
		switch {
		case errors.Is(err, station.ErrIgnored):
		case err != nil:
			refusals.add(m.Topic, len(m.Payload), err)
		default:
			hist.Add(eff)
			if eff.Reply != nil {
				cmdr.Deliver(eff.Chair, *eff.Reply)
			}
		}
	}); err != nil {
		hist.Close()
		return err
	}
	srv := web.New(web.Config{Name: cfg.Name, Actions: cfg.Actions, Users: cfg.Users, TLS: cfg.TLS(), Keep: cfg.Keep,
		Model: model, History: hist, Commander: cmdr, Page: o.Page, CmdTimeout: o.CmdTimeout,
		Logger: log.With("part", "web"), Now: now})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		hist.Close()
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10,
		IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.With("part", "http").Handler(), slog.LevelWarn)}
	if cfg.TLS() {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			ln.Close()
			hist.Close()
			return fmt.Errorf("tls: %w", err)
		}
		httpSrv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if o.Listening != nil {
		o.Listening(ln.Addr().String())
	}
	if o.Started != nil {
		o.Started(&Parts{Model: model, History: hist, Link: link, Web: srv})
	}
	log.Info("station started", "name", cfg.Name, "listen", ln.Addr().String(), "tls", cfg.TLS(),
		"broker", cfg.MQTT.Broker, "subscribe", cfg.TopicPrefix+"/+/#", "users", len(cfg.Users))

	runCtx, stopParts := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	goRun := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	goRun(func() { _ = link.Run(runCtx) })
	goRun(func() { _ = hist.Run(runCtx) })
	goRun(func() { srv.Broadcast(runCtx) })
	goRun(func() { watchLink(runCtx, link, model, now) })
	goRun(func() { tick(runCtx, model, srv, link, now, o.Alive) })
	serveErr := make(chan error, 1)
	go func() {
		var err error
		if cfg.TLS() {
			err = httpSrv.ServeTLS(ln, "", "")
		} else {
			err = httpSrv.Serve(ln)
		}
		serveErr <- err
	}()

	if o.Ready != nil {
		o.Ready()
	}
	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("web server: %w", err)
		}
	}
	log.Info("station stopping")
	srv.Close() // event streams end, so Shutdown need not wait for them
	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(shutCtx)
	stopParts()
	wg.Wait()
	s := link.Stats()
	c := model.Counts()
	log.Info("station stopped", "accepted", c.Accepted, "refused", c.Refused, "ignored", c.Ignored,
		"inbound_dropped", s.InboundDropped, "history_dropped", hist.Dropped(), "history_failed", hist.Failed())
	return runErr
}

// watchLink reports the station's broker connection to the model: open or
// not, and station_link_down once it has been down LinkDownAfter.
func watchLink(ctx context.Context, link *mqttlink.Link, model *station.Model, now func() time.Time) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	health := link.Health()
	var last mqttlink.LinkDown
	for {
		select {
		case <-ctx.Done():
			return
		case h, ok := <-health:
			if !ok {
				return
			}
			last = h
		case <-t.C:
		}
		s := station.LinkState{Connected: link.Up(), Down: last.Down, Since: last.Since, Reason: last.Reason}
		model.SetLink(s, now())
	}
}

// broadcastStuckAfter is how long the push to the pages may not turn
// before the station stops telling the watchdog it is alive.
const broadcastStuckAfter = 5 * time.Second

// tick runs the model's timers every second, then reports the station
// alive (with its status) if the push to the pages turned lately.
func tick(ctx context.Context, model *station.Model, srv *web.Server, link *mqttlink.Link, now func() time.Time, alive func(string)) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			model.Tick(now())
			if alive == nil {
				continue
			}
			if last := srv.Broadcasting(); !last.IsZero() && time.Since(last) < broadcastStuckAfter {
				alive(status(model, srv, link))
			}
		}
	}
}

// status is the one line systemd shows for the station.
func status(model *station.Model, srv *web.Server, link *mqttlink.Link) string {
	cs := model.Chairs()
	online := 0
	for _, c := range cs {
		if c.Online {
			online++
		}
	}
	broker := "broker connected"
	if !link.Up() {
		broker = "broker DOWN"
	}
	return fmt.Sprintf("%d chairs, %d online; %s; %d pages open", len(cs), online, broker, srv.Pages())
}

// refusalLog logs refused messages, at most refusalBurst a minute, then a
// count: a flood of bad payloads cannot flood the log.
type refusalLog struct {
	log   *slog.Logger
	now   func() time.Time
	mu    sync.Mutex
	start time.Time
	n     int
	quiet int
}

const refusalBurst = 20

func (r *refusalLog) add(topic string, size int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.start) >= time.Minute {
		if r.quiet > 0 {
			r.log.Warn("more MQTT messages refused and not logged", "count", r.quiet)
		}
		r.start, r.n, r.quiet = now, 0, 0
	}
	if r.n >= refusalBurst {
		r.quiet++
		return
	}
	r.n++
	r.log.Warn("MQTT message refused", "topic", topic, "bytes", size, "err", err)
}
