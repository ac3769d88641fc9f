package serialport

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Only a TIOCEXCL that did not take, or a read-back the kernel refused,
// refuses the port; ENOSYS (an emulator that does not know TIOCGEXCL after
// passing TIOCEXCL to the kernel) does not.
func TestCheckExclusiveAnswers(t *testing.T) {
	for _, c := range []struct {
		name   string
		excl   int
		err    error
		wantOK bool
	}{
		{"exclusive", 1, nil, true},
		{"not exclusive", 0, nil, false},
		{"ENOTTY", 0, unix.ENOTTY, false},
		{"EIO", 0, unix.EIO, false},
		{"ENOSYS (qemu-user)", 0, unix.ENOSYS, true},
	} {
		err := checkExclusive("/dev/ttyX", func() (int, error) { return c.excl, c.err })
		if (err == nil) != c.wantOK {
			t.Errorf("%s: err %v, want ok %v", c.name, err, c.wantOK)
		}
	}
}
