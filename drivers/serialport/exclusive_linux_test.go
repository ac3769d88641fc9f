package serialport_test

import (
	"context"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chairside/chairside/drivers/serialport"
	"github.com/chairside/chairside/drivers/serialport/serialtest"
)

// A port the daemon opens is exclusive (TIOCEXCL): no other process can
// open the sensor's tty and take half of its bytes. Root bypasses the
// flag, so the test asks the tty for the flag (TIOCGEXCL) through a second
// descriptor instead of expecting the second open to fail.
func TestRunOpensExclusive(t *testing.T) {
	pt := serialtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan int, 1)
	err := serialport.Run(ctx, serialport.Config{Path: pt.Name}, func(context.Context, *serialport.Port) error {
		defer cancel()
		fd, err := unix.Open(pt.Name, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			if err == unix.EBUSY {
				got <- 1 // not root: the exclusive flag refused us
				return nil
			}
			t.Errorf("second open of %s: %v", pt.Name, err)
			got <- -1
			return nil
		}
		defer unix.Close(fd)
		excl, err := unix.IoctlGetInt(fd, unix.TIOCGEXCL)
		if err != nil {
			t.Errorf("TIOCGEXCL: %v", err)
		}
		got <- excl
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if excl := <-got; excl != 1 {
		t.Fatalf("TIOCGEXCL of the open port = %d, want 1 (exclusive)", excl)
	}
}
