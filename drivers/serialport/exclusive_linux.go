package serialport

import (
	"errors"
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
	return checkExclusive(dev, func() (int, error) { return unix.IoctlGetInt(fd, unix.TIOCGEXCL) })
}

// checkExclusive reads back the exclusive flag after a successful
// TIOCEXCL. ENOSYS is the one answer accepted without the flag: a Linux tty
// never gives it (an unknown ioctl is ENOTTY), but qemu-user, which runs the
// arm builds in CI, passes TIOCEXCL to the kernel and does not know
// TIOCGEXCL; the kernel has then made the port exclusive already.
func checkExclusive(dev string, get func() (int, error)) error {
	excl, err := get()
	if errors.Is(err, unix.ENOSYS) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("serialport: check that %s is exclusive (TIOCGEXCL): %w", dev, err)
	}
	if excl == 0 {
		return fmt.Errorf("serialport: %s is not exclusive after TIOCEXCL", dev)
	}
	return nil
}
