package serialport

import (
	"context"
	"errors"
	"time"
)

// Pump is the read loop of a streaming driver's session: it reads p into buf
// and hands each chunk to feed, and calls tick about every `every` (also when
// no byte arrives, thanks to the read timeout) and once more on return, so a
// driver can report its frame counts once a second while the port is open.
//
// It returns ctx.Err() when ctx is done (Run closes the port, which ends the
// pending Read) and otherwise the first read error that is not a timeout,
// typically an unplug. feed gets a slice of buf that is valid only during the
// call. every <= 0 or a nil tick disables ticking; buf must not be empty.
//
// A session is then one line:
//
//	return serialport.Pump(ctx, p, buf, dec.Feed, time.Second, sendStatus)
func Pump(ctx context.Context, p *Port, buf []byte, feed func([]byte), every time.Duration, tick func()) error {
	return PumpPaced(ctx, p, buf, feed, every, tick, nil)
}

// PumpPaced is Pump for a stream whose reader knows when it may fall
// behind: after each chunk it has fed, it calls slack (fresh: the read
// waited for the chunk, so its last byte arrived just now), and when that
// returns a positive duration it waits that long (or until ctx is done)
// before it reads again, leaving what arrives meanwhile in the kernel's
// buffer, where it wakes no thread (see poller), to be read in one go. Each
// wake-up of the reader costs the process some tens of microseconds of
// scheduling (several threads hand the goroutine on); a Nonin stream sends
// 75 frames a second but emits values with one frame a packet (the SYNC
// frame that closes it), so sleeping
// over the others saves most of that without delaying a value (measured on
// the daemon: 0.13 % of a core of its 0.55 %). The pause must stay well below
// what the kernel buffers (4 KiB on a tty); an unplug is seen only after it.
// A nil slack is Pump.
func PumpPaced(ctx context.Context, p *Port, buf []byte, feed func([]byte), every time.Duration, tick func(), slack func(fresh bool) time.Duration) error {
	if len(buf) == 0 {
		return errors.New("serialport: Pump with an empty buffer")
	}
	doTick := every > 0 && tick != nil
	if doTick {
		defer tick()
	}
	var pause *time.Timer
	if slack != nil {
		pause = time.NewTimer(time.Hour)
		pause.Stop()
		defer pause.Stop()
	}
	last := time.Now()
	for {
		n, err := p.Read(buf)
		if n > 0 {
			feed(buf[:n])
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, ErrTimeout) {
			return err
		}
		if doTick {
			if now := time.Now(); now.Sub(last) >= every {
				last = now
				tick()
			}
		}
		if n > 0 && slack != nil {
			if d := slack(p.waited()); d > 0 {
				p.unwatch()
				pause.Reset(d)
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-pause.C:
				}
			}
		}
	}
}
