package main

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// clockSynced asks the kernel whether the system clock is synchronised (NTP
// or chrony has disciplined it). A Raspberry Pi has no real-time clock: until
// it is synchronised, times are marked clock_synced=false and clock_unsynced
// is raised.
//
// adjtimex with Modes 0 only reads, and needs no capability. The systemd unit
// must allow it by name: ProtectClock=yes and the @privileged/@clock groups
// forbid it (systemd/chairside.service says how; deploy's syscall test
// checks that the daemon's calls and the unit's filter agree). A sandbox that
// refuses it makes the call fail with EPERM: the clock then counts as not
// synchronised, never as synchronised.
func clockSynced() (bool, error) {
	var tx unix.Timex // Modes 0: read only
	state, err := unix.Adjtimex(&tx)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
		return false, fmt.Errorf("adjtimex (read-only) refused, likely by the unit's SystemCallFilter=: %w", err)
	}
	if err != nil {
		return false, fmt.Errorf("adjtimex: %w", err)
	}
	return state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0, nil
}
