package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// errLineClosed ends a device model's reads and writes at shutdown.
var errLineClosed = errors.New("line closed")

// endpoint is the host side of a line while it is plugged in: a
// pseudo-terminal or a real serial port.
type endpoint interface {
	io.ReadWriter
	Close() error
	String() string
}

// line is the cable between a device model and the host. The model runs for
// the whole simulation; the cable comes and goes under it, as a sensor's
// does: while unplugged, what the model writes is lost and it hears nothing.
// So a model never sees an error from its line, only at shutdown
// (errLineClosed): a device does not notice that nobody listens.
//
// With a pty each plug makes a new pseudo-terminal behind the same link and
// an unplug closes it and removes the link (udev's behaviour). A real serial
// port cannot be pulled by software: it stays open and the line only goes
// quiet while "unplugged".
type line struct {
	name string // the device, for logs
	log  *slog.Logger
	open func() (endpoint, error) // plugs a new endpoint in
	keep bool                     // the endpoint stays open while unplugged (a real port)

	mu      sync.Mutex
	ep      endpoint
	plugged bool
	started bool
	closed  bool
	changed chan struct{} // closed and replaced on every change, to wake readers
	failing bool          // an endpoint error was logged: say nothing more until it works
}

func newLine(name string, log *slog.Logger, keep bool, open func() (endpoint, error)) *line {
	return &line{name: name, log: log.With("device", name), open: open, keep: keep, plugged: true, changed: make(chan struct{})}
}

// start opens the endpoint unless the scenario pulled the cable at t = 0.
func (l *line) start() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.started = true
	if !l.plugged && !l.keep {
		return nil
	}
	return l.plugLocked()
}

// plugLocked opens a new endpoint; l.mu is held.
func (l *line) plugLocked() error {
	ep, err := l.open()
	if err != nil {
		return fmt.Errorf("%s: %w", l.name, err)
	}
	l.ep = ep
	l.wakeLocked()
	l.log.Info("line plugged in", "endpoint", ep.String())
	return nil
}

// unplug pulls the cable.
func (l *line) unplug() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.plugged || l.closed {
		return
	}
	l.plugged = false
	switch {
	case l.keep:
		l.log.Info("line unplugged: a real port cannot be pulled, so it goes quiet")
	case l.ep != nil:
		name := l.ep.String()
		if err := l.ep.Close(); err != nil {
			l.log.Warn("unplug", "err", err)
		}
		l.ep = nil
		l.log.Info("line unplugged: pty closed and link removed", "endpoint", name)
	}
	l.wakeLocked()
}

// replug puts the cable back: a new pty behind the same link.
func (l *line) replug() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.plugged || l.closed {
		return nil
	}
	l.plugged = true
	if !l.started || l.keep {
		l.wakeLocked()
		return nil
	}
	return l.plugLocked()
}

// close ends the line for good: the endpoint closes (a pty's link goes) and
// pending reads return errLineClosed.
func (l *line) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var err error
	if l.ep != nil {
		err = l.ep.Close()
		l.ep = nil
	}
	l.wakeLocked()
	return err
}

func (l *line) wakeLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// current gives the endpoint to use now and whether it is live (plugged).
func (l *line) current() (ep endpoint, live bool, changed <-chan struct{}, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, false, nil, errLineClosed
	}
	return l.ep, l.plugged && l.ep != nil, l.changed, nil
}

// still reports whether ep is still the live endpoint.
func (l *line) still(ep endpoint) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.closed && l.plugged && l.ep == ep
}

// Read gives what the host sends. It blocks while the cable is out and
// returns an error only once the line is closed.
func (l *line) Read(b []byte) (int, error) {
	for {
		ep, _, changed, err := l.current()
		if err != nil {
			return 0, err
		}
		if ep == nil {
			<-changed
			continue
		}
		n, rerr := ep.Read(b)
		if !l.still(ep) {
			continue // pulled or replaced meanwhile (or a real port gone quiet): the bytes are lost
		}
		if rerr != nil {
			l.trouble("read", rerr, changed)
			continue
		}
		l.ok()
		if n > 0 {
			return n, nil
		}
	}
}

// Write sends b to the host; while the cable is out the bytes are lost. It
// returns an error only once the line is closed.
func (l *line) Write(b []byte) (int, error) {
	ep, live, _, err := l.current()
	if err != nil {
		return 0, err
	}
	if !live {
		return len(b), nil
	}
	if _, werr := ep.Write(b); werr != nil && l.still(ep) {
		l.trouble("write", werr, nil)
	} else if werr == nil {
		l.ok()
	}
	return len(b), nil
}

// trouble logs an endpoint error once until it works again, and slows a
// reader down so that a persistent error does not spin.
func (l *line) trouble(op string, err error, changed <-chan struct{}) {
	l.mu.Lock()
	first := !l.failing
	l.failing = true
	l.mu.Unlock()
	if first {
		l.log.Warn("line "+op+" failed; bytes lost until it works again", "err", err)
	}
	if changed != nil {
		t := time.NewTimer(100 * time.Millisecond)
		defer t.Stop()
		select {
		case <-changed:
		case <-t.C:
		}
	}
}

func (l *line) ok() {
	l.mu.Lock()
	l.failing = false
	l.mu.Unlock()
}
