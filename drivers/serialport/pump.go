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
	if len(buf) == 0 {
		return errors.New("serialport: Pump with an empty buffer")
	}
	doTick := every > 0 && tick != nil
	if doTick {
		defer tick()
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
	}
}
