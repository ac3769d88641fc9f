package suntech

import (
	"fmt"
	"strings"
)

// Command bytes (the byte after ':'). 0x79 is a prefix for a group of
// requests told apart by the next byte.
const (
	cmdModuleData   byte = 0x00
	cmdPneumatics   byte = 0x0C
	cmdInitialInfl  byte = 0x17
	cmdStartAdult   byte = 0x20
	cmdStartNeonate byte = 0x28
	cmdRequest      byte = 0x79
	cmdStartChild   byte = 0x87
	cmdReset        byte = 0x8A

	reqAbort        byte = 0x01
	reqReturnString byte = 0x02
	reqBPData       byte = 0x03
	reqCuffPressure byte = 0x05
	reqStatus       byte = 0x10
	reqStatusAPlus  byte = 0x11
)

// maxCommandLen is the longest command frame (control pneumatics).
const maxCommandLen = 6

// Command is one host→module frame: ':', the command bytes and CHK. It is a
// small value so commands can be built once and sent without allocating.
type Command struct {
	b [maxCommandLen]byte
	n uint8
}

// newCommand frames body as ':' body CHK.
func newCommand(body ...byte) Command {
	var c Command
	c.b[0] = HostStart
	copy(c.b[1:], body)
	c.n = uint8(1 + len(body))
	c.b[c.n] = Checksum(c.b[:c.n])
	c.n++
	return c
}

// Bytes returns a copy of the frame, checksum included.
func (c Command) Bytes() []byte {
	return append([]byte(nil), c.b[:c.n]...)
}

// AppendTo appends the frame to dst.
func (c Command) AppendTo(dst []byte) []byte {
	return append(dst, c.b[:c.n]...)
}

// Name says what the command does ("start adult", "get cuff pressure", ...),
// or "unknown" for bytes no constructor makes.
func (c Command) Name() string {
	if c.n < 3 {
		return "unknown"
	}
	switch b := c.b[1]; b {
	case cmdStartAdult, cmdStartChild, cmdStartNeonate:
		return "start " + Patient(b).String()
	case cmdModuleData:
		return "module data"
	case cmdReset:
		return "reset"
	case cmdInitialInfl:
		return "set initial inflation"
	case cmdPneumatics:
		return "control pneumatics"
	case cmdRequest:
		switch c.b[2] {
		case reqAbort:
			return "abort"
		case reqReturnString:
			return "return string"
		case reqBPData:
			return "get BP data"
		case reqCuffPressure:
			return "get cuff pressure"
		case reqStatus:
			return "status"
		case reqStatusAPlus:
			return "status A+"
		}
	}
	return "unknown"
}

// String gives the name and the bytes, e.g. "abort [3A 79 01 00 4C]".
func (c Command) String() string {
	return c.Name() + " [" + hexBytes(c.b[:c.n]) + "]"
}

// hexBytes formats b as upper-case hex pairs separated by spaces, the way
// sensors.md writes frames.
func hexBytes(b []byte) string {
	var sb strings.Builder
	for i, x := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%02X", x)
	}
	return sb.String()
}

// Patient selects the module's inflation and algorithm profile. Its value is
// the start command byte.
type Patient byte

// The patient profiles the start command accepts.
const (
	Adult     Patient = Patient(cmdStartAdult)
	Pediatric Patient = Patient(cmdStartChild)
	Neonate   Patient = Patient(cmdStartNeonate)
)

func (p Patient) valid() bool { return p == Adult || p == Pediatric || p == Neonate }

// String names the profile.
func (p Patient) String() string {
	switch p {
	case Adult:
		return "adult"
	case Pediatric:
		return "pediatric"
	case Neonate:
		return "neonate"
	}
	return fmt.Sprintf("patient(0x%02X)", byte(p))
}

// StartBP starts one measurement cycle for the profile p. The module answers
// 'O' (received), then 'K' when the cycle is over. An invalid p starts an
// adult cycle: the adult profile is the one this monitor is built for, and a
// start must never carry an arbitrary command byte.
func StartBP(p Patient) Command {
	if !p.valid() {
		p = Adult
	}
	return newCommand(byte(p))
}

// Abort stops the cycle and deflates the cuff.
func Abort() Command { return newCommand(cmdRequest, reqAbort, 0x00) }

// GetCuffPressure asks for the current cuff pressure (a LEN 5 response).
func GetCuffPressure() Command { return newCommand(cmdRequest, reqCuffPressure, 0x00) }

// GetBPData asks for the result of the last cycle (a LEN 24 response).
func GetBPData() Command { return newCommand(cmdRequest, reqBPData, 0x00) }

// ModuleData asks for the module's data/version (a LEN 67 response).
func ModuleData() Command { return newCommand(cmdModuleData) }

// ReturnString asks for the module's return string (a LEN 67 response).
func ReturnString() Command { return newCommand(cmdRequest, reqReturnString, 0x40) }

// Status asks an Advantage module for its status. The answer's layout is not
// in any public source read (sensors.md §3), so the driver does not use it.
func Status() Command { return newCommand(cmdRequest, reqStatus, 0x03) }

// StatusAPlus is Status for the Advantage A+ module.
func StatusAPlus() Command { return newCommand(cmdRequest, reqStatusAPlus, 0x00) }

// SetInitialInflation sets the pressure the first inflation aims for, in mmHg
// (little-endian).
func SetInitialInflation(mmHg uint16) Command {
	return newCommand(cmdInitialInfl, byte(mmHg), byte(mmHg>>8))
}

// Reset restarts the module.
func Reset() Command { return newCommand(cmdReset) }

// ControlPneumatics drives the pump, the valve and the dump valve directly
// (service use only: it bypasses the measurement cycle).
func ControlPneumatics(pump, valve, dump bool) Command {
	return newCommand(cmdPneumatics, b2u(pump), b2u(valve), b2u(dump))
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}
