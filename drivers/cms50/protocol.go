package cms50

import (
	"fmt"

	"go.bug.st/serial"
)

// Protocol selects one of the two incompatible Contec serial protocols. The
// firmware decides which one a device speaks; nothing on the wire announces
// it, so the configuration must say (driver "cms50" or "cms50-legacy").
//
// The zero value is deliberately invalid so that a forgotten field in Opts is
// an error rather than a silent choice.
type Protocol uint8

const (
	// Live9 is the 9-byte protocol of the CMS50D+ firmware 4.6 and later and
	// of the CMS50E/F: 115200 8N1, silent until the host sends the start-live
	// command, then about 60 live packets a second as long as keep-alives come.
	Live9 Protocol = iota + 1
	// Legacy is the 5-byte stream of the CMS50D+ up to firmware 4.5:
	// 19200 8O1, 60 packets a second from power-up, synchronised on bit 7,
	// with no checksum.
	Legacy
)

// String gives the name used on vitalsim's command line: "live9" or "legacy".
func (p Protocol) String() string {
	switch p {
	case Live9:
		return "live9"
	case Legacy:
		return "legacy"
	}
	return fmt.Sprintf("protocol(%d)", uint8(p))
}

// Valid reports whether p is Live9 or Legacy.
func (p Protocol) Valid() bool { return p == Live9 || p == Legacy }

// Driver gives the daemon's configuration name of the driver that speaks p:
// "cms50" for Live9, "cms50-legacy" for Legacy.
func (p Protocol) Driver() string {
	switch p {
	case Live9:
		return "cms50"
	case Legacy:
		return "cms50-legacy"
	}
	return ""
}

// ParseProtocol accepts a protocol name ("live9", "legacy") or a driver name
// ("cms50", "cms50-legacy").
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "live9", "cms50":
		return Live9, nil
	case "legacy", "cms50-legacy":
		return Legacy, nil
	}
	return 0, fmt.Errorf("cms50: unknown protocol %q (want live9, legacy, cms50 or cms50-legacy)", s)
}

// Mode gives the line settings of p. Flow control is off: some Python
// decoders enable XON/XOFF, but a host that honours it would swallow the
// bytes 0x11 and 0x13, which are valid packet types in Live9 (OSCAR opens
// the port with no flow control). InitialStatusBits stays nil so the same
// mode opens a pseudo-terminal (a pty has no modem lines).
func (p Protocol) Mode() serial.Mode {
	if p == Legacy {
		return serial.Mode{BaudRate: 19200, DataBits: 8, Parity: serial.OddParity, StopBits: serial.OneStopBit}
	}
	return serial.Mode{BaudRate: 115200, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}
}

// PacketLen is the length of a live packet in p: 9 for Live9, 5 for Legacy.
// It is also the unit in which discarded bytes are counted as garbled frames.
func (p Protocol) PacketLen() int {
	if p == Legacy {
		return legacyLen
	}
	return live9Len
}
