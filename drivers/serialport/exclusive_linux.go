package serialport

import (
	"fmt"

	"go.bug.st/serial"
	"golang.org/x/sys/unix"
)

// claimExclusive makes the open port sp exclusive (TIOCEXCL): any later
// open(2) of the tty fails with EBUSY until sp is closed, so no other
// process (a second chairside, a terminal program) can take half of a
// sensor's bytes. The library sets TIOCEXCL too but ignores its error; here
// it is checked with TIOCGEXCL, and a port that cannot be made exclusive is
// refused. Root (CAP_SYS_ADMIN) can still open an exclusive tty: the
// daemon's lock file (cmd/chairside) covers a second daemon run as root.
// A port that is not the library's tty (a test's fake) is left alone.
func claimExclusive(sp serial.Port, dev string) error {
	fd, ok := libTTY(sp)
	if !ok {
		return nil
	}
	if err := unix.IoctlSetInt(fd, unix.TIOCEXCL, 0); err != nil {
		return fmt.Errorf("serialport: make %s exclusive (TIOCEXCL): %w", dev, err)
	}
	excl, err := unix.IoctlGetInt(fd, unix.TIOCGEXCL)
	if err != nil {
		return fmt.Errorf("serialport: check that %s is exclusive (TIOCGEXCL): %w", dev, err)
	}
	if excl == 0 {
		return fmt.Errorf("serialport: %s is not exclusive after TIOCEXCL", dev)
	}
	return nil
}
