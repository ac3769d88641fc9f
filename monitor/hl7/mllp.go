package hl7

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MLLP frame bytes: start block, end block, carriage return.
const (
	frameStart = 0x0B
	frameEnd   = 0x1C
	frameCR    = 0x0D
)

// MaxFrame bounds a frame the reader accepts: an acknowledgement is a few
// hundred bytes, and a receiver that sends megabytes is broken.
const MaxFrame = 1 << 20

// ErrFrameTooLarge is returned for a frame longer than the reader's bound.
var ErrFrameTooLarge = errors.New("mllp: frame too large")

// WriteFrame writes msg in one MLLP frame: 0x0B msg 0x1C 0x0D. It refuses a
// message holding a frame byte (0x0B or 0x1C), which would cut the frame
// short; Message.Bytes never makes one (Escape hex-escapes them).
func WriteFrame(w io.Writer, msg []byte) error {
	if i := bytes.IndexAny(msg, "\x0b\x1c"); i >= 0 {
		return fmt.Errorf("mllp: message holds frame byte 0x%02X at %d", msg[i], i)
	}
	buf := make([]byte, 0, len(msg)+3)
	buf = append(buf, frameStart)
	buf = append(buf, msg...)
	buf = append(buf, frameEnd, frameCR)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("mllp: write: %w", err)
	}
	return nil
}

// FrameReader reads MLLP frames from a stream.
type FrameReader struct {
	r   *bufio.Reader
	max int
}

// NewFrameReader reads frames of at most max bytes (MaxFrame when max <= 0).
func NewFrameReader(r io.Reader, max int) *FrameReader {
	if max <= 0 {
		max = MaxFrame
	}
	return &FrameReader{r: bufio.NewReader(r), max: max}
}

// ReadFrame gives the next frame's content. Whitespace (CR, LF) between
// frames is skipped, as some senders add a line end; any other byte outside
// a frame, a start byte inside one, an end byte not followed by CR, a frame
// over the bound, or a stream that ends mid-frame is an error naming it.
// A stream that ends between frames gives io.EOF.
func (fr *FrameReader) ReadFrame() ([]byte, error) {
	for {
		c, err := fr.r.ReadByte()
		if err != nil {
			return nil, err // io.EOF between frames, or the transport's error
		}
		if c == '\r' || c == '\n' {
			continue
		}
		if c != frameStart {
			return nil, fmt.Errorf("mllp: byte 0x%02X outside a frame (want 0x0B)", c)
		}
		break
	}
	var msg []byte
	for {
		c, err := fr.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("mllp: stream ended inside a frame after %d bytes: %w", len(msg), io.ErrUnexpectedEOF)
			}
			return nil, fmt.Errorf("mllp: read: %w", err)
		}
		switch c {
		case frameEnd:
			c2, err := fr.r.ReadByte()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil, fmt.Errorf("mllp: stream ended after the end byte: %w", io.ErrUnexpectedEOF)
				}
				return nil, fmt.Errorf("mllp: read: %w", err)
			}
			if c2 != frameCR {
				return nil, fmt.Errorf("mllp: end byte followed by 0x%02X, not 0x0D", c2)
			}
			return msg, nil
		case frameStart:
			return nil, fmt.Errorf("mllp: start byte inside a frame after %d bytes", len(msg))
		}
		if len(msg) >= fr.max {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrFrameTooLarge, fr.max)
		}
		msg = append(msg, c)
	}
}
