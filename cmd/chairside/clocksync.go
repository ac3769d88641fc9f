package main

import "golang.org/x/sys/unix"

// clockSynced asks the kernel whether the system clock is synchronised (NTP
// or chrony has disciplined it). A Raspberry Pi has no real-time clock: until
// it is synchronised, times are marked clock_synced=false and clock_unsynced
// is raised.
func clockSynced() (bool, error) {
	var tx unix.Timex // Modes 0: read only
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, err
	}
	return state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0, nil
}
