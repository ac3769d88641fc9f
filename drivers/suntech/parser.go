package suntech

// Parser splits the module→host byte stream into frames. It keeps at most one
// frame's worth of bytes (MaxFrameLen) and allocates nothing, so it can run on
// every byte of a long-lived port.
//
// Resync: when a candidate frame fails (LEN outside MinFrameLen..MaxFrameLen
// or a bad checksum) only its '>' is dropped and the bytes after it are
// scanned again, because a real frame may start inside a garbled one.
//
// Accounting, which the fuzz test checks after every call:
//
//	Bytes == FrameBytes + Discarded + Pending()
//
// Garbled counts losses of sync: it grows by one when the parser first drops
// a byte after a good frame (or at start), and by one more for every further
// MaxFrameLen bytes dropped before the next good frame. One corrupted frame
// thus counts once, and a stream of noise (a wrong baud rate) keeps counting
// at about one per frame's worth of bytes, which is what the engine's
// sensor_garbled rate needs.
//
// The zero Parser is ready to use. A Parser is not safe for concurrent use.
type Parser struct {
	buf      [MaxFrameLen]byte
	n        int  // bytes held in buf
	flushing bool // the line went quiet: an incomplete candidate is garbage
	lost     bool // out of sync since the last good frame
	lostRun  int  // bytes dropped since Garbled last grew
	stats    ParserStats
}

// ParserStats are a Parser's running counts. They only grow.
type ParserStats struct {
	Bytes      uint64 // bytes consumed
	Frames     uint64 // frames that passed LEN and CHK
	FrameBytes uint64 // bytes in those frames
	Garbled    uint64 // losses of sync (see Parser)
	Discarded  uint64 // bytes dropped while resyncing
}

// Stats returns the running counts.
func (p *Parser) Stats() ParserStats { return p.stats }

// Pending returns how many bytes are held as a possible frame's beginning.
func (p *Parser) Pending() int { return p.n }

// Next consumes bytes from in until a frame completes and returns it with
// ok true and n the count of bytes of in consumed; call it again with in[n:]
// for the rest. With ok false all of in was consumed and more bytes are
// needed. Next(nil) returns frames still held from earlier input (after a
// resync or a Flush) without consuming anything.
func (p *Parser) Next(in []byte) (f Frame, n int, ok bool) {
	if p.scan(&f) {
		return f, 0, true
	}
	for i, b := range in {
		p.stats.Bytes++
		if p.n == 0 && b != ModuleStart {
			p.drop(0, 1) // between frames: noise
			continue
		}
		p.flushing = false
		p.buf[p.n] = b
		p.n++
		if p.scan(&f) {
			return f, i + 1, true
		}
	}
	return f, len(in), false
}

// Flush tells the parser the line has gone quiet, so a frame that is still
// incomplete never will be: the next calls to Next(nil) drop it and return
// any frames found in the bytes after its '>', until nothing is held. Without
// it a truncated frame would swallow the next frames until LEN bytes arrive.
func (p *Parser) Flush() {
	if p.n > 0 {
		p.flushing = true
	}
}

// Discard drops every byte held, counting it, for when the port closed
// mid-frame and the next bytes come from a new connection.
func (p *Parser) Discard() {
	if p.n > 0 {
		p.drop(p.n, 0)
	}
	p.flushing = false
}

// scan looks for a complete, valid frame at the start of buf, dropping bytes
// that cannot begin one. It returns true with the frame decoded into f.
func (p *Parser) scan(f *Frame) bool {
	for {
		for p.n > 0 {
			if p.buf[0] != ModuleStart { // left over from a failed candidate
				k := 1
				for k < p.n && p.buf[k] != ModuleStart {
					k++
				}
				p.drop(k, 0)
				continue
			}
			if p.n < 2 {
				break
			}
			l := int(p.buf[1])
			if l < MinFrameLen || l > MaxFrameLen {
				p.drop(1, 0)
				continue
			}
			if p.n < l {
				break
			}
			if !ValidChecksum(p.buf[:l]) {
				p.drop(1, 0)
				continue
			}
			f.decode(p.buf[:l])
			p.n = copy(p.buf[:], p.buf[l:p.n])
			p.stats.Frames++
			p.stats.FrameBytes += uint64(l)
			p.lost = false
			return true
		}
		if p.n == 0 {
			p.flushing = false
			return false
		}
		if !p.flushing {
			return false // an incomplete candidate: wait for more bytes
		}
		// Incomplete and the line is quiet: give up on this '>' and look
		// again at what follows it.
		p.drop(1, 0)
	}
}

// drop discards k held bytes from the front of buf plus extra bytes that
// were never held, and does the sync accounting.
func (p *Parser) drop(k, extra int) {
	if k > 0 {
		p.n = copy(p.buf[:], p.buf[k:p.n])
	}
	d := k + extra
	p.stats.Discarded += uint64(d)
	if !p.lost {
		p.lost = true
		p.lostRun = 0
		p.stats.Garbled++
		d-- // the byte that lost sync is counted by this increment
	}
	p.lostRun += d
	for p.lostRun >= MaxFrameLen {
		p.lostRun -= MaxFrameLen
		p.stats.Garbled++
	}
}
