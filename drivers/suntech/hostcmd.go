package suntech

// commandLen gives the length of the host frame that starts with ':' code,
// or 0 for a code no public source documents. Host frames carry no LEN, so
// the module (and its model) can only know where one ends from its code.
func commandLen(code byte) int {
	switch code {
	case cmdStartAdult, cmdStartChild, cmdStartNeonate, cmdModuleData, cmdReset:
		return 3
	case cmdRequest, cmdInitialInfl:
		return 5
	case cmdPneumatics:
		return 6
	}
	return 0
}

// hostDecoder splits the host→module stream into commands, the way the
// module model reads it. Like the parser it holds at most one frame.
type hostDecoder struct {
	buf [maxCommandLen]byte
	n   int
}

// feed consumes one byte. When a frame ends it returns ok with either the
// command (nak 0) or the acknowledge the module answers a bad frame with:
// AckUnknown for an undocumented command byte, AckBadFrame for a bad checksum.
func (h *hostDecoder) feed(b byte) (c Command, nak Ack, ok bool) {
	switch {
	case h.n == 0:
		if b == HostStart {
			h.buf[0], h.n = b, 1
		}
		return c, 0, false // noise between commands is ignored
	case h.n == 1 && commandLen(b) == 0:
		h.n = 0
		return c, AckUnknown, true
	}
	h.buf[h.n] = b
	h.n++
	if h.n < commandLen(h.buf[1]) {
		return c, 0, false
	}
	defer func() { h.n = 0 }()
	if !ValidChecksum(h.buf[:h.n]) {
		return c, AckBadFrame, true
	}
	c.n = uint8(copy(c.b[:], h.buf[:h.n]))
	return c, 0, true
}

// pending reports whether part of a command is held.
func (h *hostDecoder) pending() bool { return h.n > 0 }

// reset drops a partial command.
func (h *hostDecoder) reset() { h.n = 0 }
