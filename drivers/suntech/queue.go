package suntech

import (
	"errors"
	"fmt"
)

// write sends one command.
func (l *link) write(cmd []byte) error {
	for len(cmd) > 0 {
		n, err := l.p.Write(cmd)
		if err != nil {
			return fmt.Errorf("suntech: send %s: %w", commandName(cmd), err)
		}
		if n == 0 {
			return fmt.Errorf("suntech: send %s: %w", commandName(cmd), errShortWrite)
		}
		cmd = cmd[n:]
	}
	return nil
}

var errShortWrite = errors.New("port accepted no bytes")

// commandName names a framed command for an error message.
func commandName(b []byte) string {
	var c Command
	c.n = uint8(copy(c.b[:], b))
	return c.Name()
}

// push queues cmd unless it is already waiting (a poll must not pile up).
func (l *link) push(cmd []byte) {
	for _, q := range l.queue[:l.queued] {
		if &q[0] == &cmd[0] {
			return
		}
	}
	if l.queued == len(l.queue) {
		l.d.log.Warn("command queue full; dropping", "command", commandName(cmd))
		return
	}
	l.queue[l.queued] = cmd
	l.queued++
}

// pushFirst empties the queue and puts cmd (the abort) first.
func (l *link) pushFirst(cmd []byte) {
	l.queued = 0
	l.push(cmd)
}

// unqueue removes cmd from the queue.
func (l *link) unqueue(cmd []byte) {
	j := 0
	for _, q := range l.queue[:l.queued] {
		if &q[0] != &cmd[0] {
			l.queue[j] = q
			j++
		}
	}
	l.queued = j
}
