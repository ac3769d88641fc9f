//go:build !linux

package serialport

import "go.bug.st/serial"

// claimExclusive is Linux only: elsewhere the library's own exclusive
// access (where it has one) stands.
func claimExclusive(serial.Port, string) error { return nil }
