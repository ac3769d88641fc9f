package serialport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"go.bug.st/serial"
)

// Defaults applied by Run to zero Config fields.
const (
	DefaultReadTimeout = 100 * time.Millisecond
	DefaultMinBackoff  = 100 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Second
)

// Config says which port to open and how.
type Config struct {
	Path        string        // e.g. /dev/ttyUSB0 or /dev/serial/by-id/... (symlinks fine)
	Mode        serial.Mode   // baud, data bits, parity, stop bits; leave InitialStatusBits nil on a pty
	ReadTimeout time.Duration // how long Read waits for a byte before ErrTimeout; default 100ms
	MinBackoff  time.Duration // first wait before reopening; default 100ms, doubling
	MaxBackoff  time.Duration // longest wait; default 5s
	Logger      *slog.Logger  // nil discards: no global logger is used
	// Open opens the device; nil means serial.Open. Tests inject a counter or
	// a fake port here.
	Open func(path string, mode *serial.Mode) (serial.Port, error)
}

// withDefaults fills zero fields and rejects values Run cannot work with.
// Only configuration mistakes are errors: a missing device is not.
func (c Config) withDefaults() (Config, error) {
	if c.Path == "" {
		return c, errors.New("serialport: Config.Path is empty")
	}
	if c.ReadTimeout < 0 || c.MinBackoff < 0 || c.MaxBackoff < 0 {
		return c, fmt.Errorf("serialport: negative duration in Config (ReadTimeout %v, MinBackoff %v, MaxBackoff %v)",
			c.ReadTimeout, c.MinBackoff, c.MaxBackoff)
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		return c, fmt.Errorf("serialport: Config.MaxBackoff %v is below MinBackoff %v", c.MaxBackoff, c.MinBackoff)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Open == nil {
		c.Open = serial.Open
	}
	return c, nil
}

// Run opens the port and calls session with it. When session returns (an
// unplug, an I/O error) or the open fails, Run closes the port, waits with
// exponential back-off from MinBackoff to MaxBackoff, and opens again, until
// ctx is done; then it closes the port and returns nil. The back-off starts
// again from MinBackoff after a session that lasted longer than MaxBackoff, so
// a device that was working is reopened quickly after a replug while one that
// fails at once is not hammered. Run returns an error only for a bad Config or
// a nil session, never for a transient failure.
//
// Cancelling ctx closes the port, so a session blocked in Read returns at once.
// The path is resolved again on every open: a replugged USB adapter may come
// back behind the same /dev/serial/by-id link as another ttyUSBn.
func Run(ctx context.Context, cfg Config, session func(ctx context.Context, p *Port) error) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if session == nil {
		return errors.New("serialport: nil session")
	}
	log := cfg.Logger.With("port", cfg.Path)
	backoff := cfg.MinBackoff
	failing := false // the previous attempt failed: log repeats quietly
	for ctx.Err() == nil {
		p, err := open(cfg)
		if err != nil {
			if !failing {
				log.Warn("serial port open failed; retrying", "err", err)
			} else {
				log.Debug("serial port open failed", "err", err, "backoff", backoff)
			}
			failing = true
		} else {
			failing = false
			log.Info("serial port opened", "device", p.dev)
			start := time.Now()
			serr := runSession(ctx, p, session)
			lasted := time.Since(start)
			if ctx.Err() != nil {
				break
			}
			if lasted > cfg.MaxBackoff {
				backoff = cfg.MinBackoff
			}
			level := slog.LevelWarn
			if IsUnplug(serr) {
				level = slog.LevelInfo // expected on unplug: not an anomaly of ours
			}
			log.Log(ctx, level, "serial session ended; reopening", "device", p.dev, "err", serr,
				"lasted", lasted.Round(time.Millisecond), "backoff", backoff)
		}
		if !sleep(ctx, backoff) {
			break
		}
		backoff = min(2*backoff, cfg.MaxBackoff)
	}
	log.Debug("serial port stopped")
	return nil
}

// open resolves cfg.Path and opens it exclusively (claimExclusive) with the
// read timeout set. When the
// path does not resolve (the by-id link vanished with the device) it still
// calls cfg.Open with the path as given, so the open's own error is reported.
func open(cfg Config) (*Port, error) {
	dev, err := filepath.EvalSymlinks(cfg.Path)
	if err != nil {
		dev = cfg.Path
	}
	mode := cfg.Mode // a copy: Open must not change the caller's Config
	sp, err := cfg.Open(dev, &mode)
	if err != nil {
		return nil, fmt.Errorf("serialport: open %s: %w", dev, err)
	}
	if sp == nil {
		return nil, fmt.Errorf("serialport: open %s: Open returned no port", dev)
	}
	if err := claimExclusive(sp, dev); err != nil {
		_ = sp.Close()
		return nil, err
	}
	if err := sp.SetReadTimeout(cfg.ReadTimeout); err != nil {
		_ = sp.Close()
		return nil, fmt.Errorf("serialport: set read timeout on %s: %w", dev, err)
	}
	return &Port{sp: sp, pl: pollable(sp, dev), timeout: cfg.ReadTimeout, libWait: cfg.ReadTimeout, path: cfg.Path, dev: dev}, nil
}

// runSession calls session and closes p when session returns or ctx is done,
// whichever comes first; it returns only after both the session and the
// closer have finished, so no goroutine outlives it.
func runSession(ctx context.Context, p *Port, session func(context.Context, *Port) error) error {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			_ = p.Close() // unblocks a pending Read
		case <-done:
		}
	}()
	err := session(ctx, p)
	close(done)
	wg.Wait()
	_ = p.Close()
	return err
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
