package suntech

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Kind says what a response frame carries; the module tells them apart only
// by LEN.
type Kind uint8

// The response kinds.
const (
	KindUnknown  Kind = iota // valid LEN and CHK, but a length no known response has
	KindAck                  // LEN 4: one acknowledge byte
	KindPressure             // LEN 5: cuff pressure
	KindResult               // LEN 24: BP result
	KindVersion              // LEN 67: version/return string
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindAck:
		return "ack"
	case KindPressure:
		return "pressure"
	case KindResult:
		return "result"
	case KindVersion:
		return "version"
	}
	return "unknown"
}

// Ack is the byte of an acknowledge frame.
type Ack byte

// The acknowledge bytes (sensors.md §3).
const (
	AckReceived Ack = 'O' // command received (a start: the cycle begins)
	AckDone     Ack = 'K' // executed; after a start: the cycle is over
	AckAborted  Ack = 'A'
	AckBusy     Ack = 'B'
	AckError    Ack = 'E'
	AckBadFrame Ack = 'N' // bad frame or parameter (checksum)
	AckUnknown  Ack = 'D' // unrecognised command
	AckSleep    Ack = 'S'
	AckTimedOut Ack = 'T'
)

// String gives the byte and its meaning, e.g. "'K' done".
func (a Ack) String() string {
	var m string
	switch a {
	case AckReceived:
		m = "received"
	case AckDone:
		m = "done"
	case AckAborted:
		m = "aborted"
	case AckBusy:
		m = "busy"
	case AckError:
		m = "error"
	case AckBadFrame:
		m = "bad frame or parameter"
	case AckUnknown:
		m = "unrecognised command"
	case AckSleep:
		m = "sleep"
	case AckTimedOut:
		m = "timeout"
	default:
		return fmt.Sprintf("ack 0x%02X", byte(a))
	}
	return fmt.Sprintf("%q %s", rune(a), m)
}

// NoPressure is the cuff pressure value the module sends when it has none
// (nPM skips it).
const NoPressure int16 = -1

// BPData is a BP result frame's content. Offsets are those of the data bytes
// after LEN (sensors.md §3).
type BPData struct {
	Systolic  int16 // 0-1, mmHg
	Diastolic int16 // 2-3, mmHg
	Beats     uint8 // 4, beats detected
	Status    uint8 // 5, BP status
	TestCodes [8]byte
	HeartRate uint8     // 14, /min
	Mean      int16     // 16-17, mmHg
	Error     ErrorCode // 18, zero on success
}

// maxPlausible is the module's hardware cuff limit (sensors.md §3, unverified):
// no real pressure in a result can exceed it.
const maxPlausible = 300

// Check returns the module's error code when it reported one, ErrImplausible
// when the values cannot be a blood pressure, and nil for a usable result.
func (b BPData) Check() error {
	if b.Error != 0 {
		return b.Error
	}
	if b.Systolic <= 0 || b.Diastolic <= 0 || b.Diastolic >= b.Systolic || b.Systolic > maxPlausible {
		return fmt.Errorf("%w: systolic %d diastolic %d", ErrImplausible, b.Systolic, b.Diastolic)
	}
	return nil
}

// Frame is one response with a valid LEN and CHK, decoded. It holds a copy of
// its bytes, so it stays valid after the parser moves on.
type Frame struct {
	Kind     Kind
	Ack      Ack    // KindAck
	Pressure int16  // KindPressure: mmHg, or NoPressure
	BP       BPData // KindResult
	raw      [MaxFrameLen]byte
	n        uint8
}

// Bytes returns the frame as received, '>' to CHK.
func (f *Frame) Bytes() []byte { return f.raw[:f.n] }

// Text returns a version frame's string without its NUL or space padding
// (nil for other kinds). It points into f.
func (f *Frame) Text() []byte {
	if f.Kind != KindVersion {
		return nil
	}
	return bytes.TrimRight(f.raw[2:f.n-1], "\x00 ")
}

// String describes the frame for logs and test failures.
func (f *Frame) String() string {
	switch f.Kind {
	case KindAck:
		return "ack " + f.Ack.String()
	case KindPressure:
		return fmt.Sprintf("cuff pressure %d mmHg", f.Pressure)
	case KindResult:
		b := f.BP
		return fmt.Sprintf("result SYS %d DIA %d MAP %d HR %d error 0x%02X", b.Systolic, b.Diastolic, b.Mean, b.HeartRate, uint8(b.Error))
	case KindVersion:
		return fmt.Sprintf("version %q", f.Text())
	}
	return "unknown [" + hexBytes(f.Bytes()) + "]"
}

// decode fills f from a complete frame whose LEN and CHK were checked.
func (f *Frame) decode(b []byte) {
	f.n = uint8(copy(f.raw[:], b))
	d := b[2 : len(b)-1] // the data bytes
	switch len(b) {
	case lenAck:
		f.Kind, f.Ack = KindAck, Ack(d[0])
	case lenPressure:
		f.Kind, f.Pressure = KindPressure, int16(binary.LittleEndian.Uint16(d))
	case lenResult:
		f.Kind = KindResult
		f.BP = BPData{
			Systolic:  int16(binary.LittleEndian.Uint16(d[0:])),
			Diastolic: int16(binary.LittleEndian.Uint16(d[2:])),
			Beats:     d[4],
			Status:    d[5],
			HeartRate: d[14],
			Mean:      int16(binary.LittleEndian.Uint16(d[16:])),
			Error:     ErrorCode(d[18]),
		}
		copy(f.BP.TestCodes[:], d[6:14])
	case lenVersion:
		f.Kind = KindVersion
	default:
		f.Kind = KindUnknown
	}
}

// The encoders below build module→host frames. The module model uses them,
// and the tests prove them against the parser and sensors.md's vectors.

// AppendFrame appends '>' LEN data CHK to dst. data must leave the frame
// within MinFrameLen..MaxFrameLen.
func AppendFrame(dst, data []byte) ([]byte, error) {
	if l := len(data) + 3; l < MinFrameLen || l > MaxFrameLen {
		return dst, fmt.Errorf("suntech: frame of %d data bytes is outside %d..%d", len(data), MinFrameLen-3, MaxFrameLen-3)
	}
	return appendFixed(dst, data...), nil
}

// AppendAck appends an acknowledge frame.
func AppendAck(dst []byte, a Ack) []byte {
	return appendFixed(dst, byte(a))
}

// AppendPressure appends a cuff pressure frame.
func AppendPressure(dst []byte, mmHg int16) []byte {
	return appendFixed(dst, byte(mmHg), byte(uint16(mmHg)>>8))
}

// AppendResult appends a BP result frame. The spare bytes are zero.
func AppendResult(dst []byte, b BPData) []byte {
	var d [lenResult - 3]byte
	binary.LittleEndian.PutUint16(d[0:], uint16(b.Systolic))
	binary.LittleEndian.PutUint16(d[2:], uint16(b.Diastolic))
	d[4], d[5] = b.Beats, b.Status
	copy(d[6:14], b.TestCodes[:])
	d[14] = b.HeartRate
	binary.LittleEndian.PutUint16(d[16:], uint16(b.Mean))
	d[18] = byte(b.Error)
	return appendFixed(dst, d[:]...)
}

// AppendVersion appends a version/return string frame, the text padded with
// NUL bytes (or cut) to VersionTextLen.
func AppendVersion(dst []byte, text string) []byte {
	var d [VersionTextLen]byte
	copy(d[:], text)
	return appendFixed(dst, d[:]...)
}

// appendFixed is AppendFrame for data whose length its caller fixes.
func appendFixed(dst []byte, data ...byte) []byte {
	start := len(dst)
	dst = append(dst, ModuleStart, byte(len(data)+3))
	dst = append(dst, data...)
	return append(dst, Checksum(dst[start:]))
}
