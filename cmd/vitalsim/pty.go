package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// ptyEnd is one plugged-in pseudo-terminal: the device model writes the
// master, the host opens the slave through a symlink, as it opens a
// /dev/serial/by-id link.
//
// The master is opened here rather than with creack/pty because pty.Open
// calls File.Fd, which puts the master into blocking mode: a Read pending on
// it could then not be interrupted, so an unplug would not close the
// descriptor and the host would never see its line hang up. Opened this
// way, the master stays in Go's poller and Close ends a pending Read.
//
// vitalsim holds the slave open too: it keeps the line's raw settings while
// no host has it open, and keeps the master's reads from failing with EIO
// each time the host closes and reopens the port. The cost is that bytes the
// device writes while no host reads would pile up and be delivered, stale,
// to the next host that opens it; Write therefore drops what has waited
// longer than about two seconds, as a real line drops what nobody receives.
type ptyEnd struct {
	master, slave *os.File
	slaveName     string
	link          string
	staleBytes    int // more than this waiting in the slave's input: nobody reads it
}

// openPTY makes a raw pseudo-terminal and points link at its slave.
func openPTY(link string, staleBytes int) (*ptyEnd, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	var n uint32
	err = control(master, func(fd int) error {
		var err error
		if n, err = unix.IoctlGetUint32(fd, unix.TIOCGPTN); err != nil {
			return fmt.Errorf("TIOCGPTN: %w", err)
		}
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
			return fmt.Errorf("unlock pty: %w", err)
		}
		return nil
	})
	if err != nil {
		_ = master.Close()
		return nil, err
	}
	name := "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	slave, err := os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		_ = master.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	p := &ptyEnd{master: master, slave: slave, slaveName: name, link: link, staleBytes: staleBytes}
	if err := control(slave, makeRaw); err != nil {
		p.closeFiles()
		return nil, fmt.Errorf("raw mode on %s: %w", name, err)
	}
	if err := pointLink(link, name); err != nil {
		p.closeFiles()
		return nil, err
	}
	return p, nil
}

// Read reads what the host wrote.
func (p *ptyEnd) Read(b []byte) (int, error) { return p.master.Read(b) }

// Write sends b to the host, first dropping input nobody has read.
func (p *ptyEnd) Write(b []byte) (int, error) {
	p.dropStale()
	return p.master.Write(b)
}

// dropStale discards the slave's input queue when it holds more than
// staleBytes: no host is reading. It also lifts the exclusive-open flag
// (TIOCEXCL) that go.bug.st/serial sets and lifts only on a clean close: a
// host killed with SIGKILL leaves it behind, and since vitalsim holds the
// slave, the flag would otherwise lock every later non-root open out.
func (p *ptyEnd) dropStale() {
	_ = control(p.slave, func(fd int) error {
		n, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
		if err != nil || n <= p.staleBytes {
			return err
		}
		_ = unix.IoctlSetInt(fd, unix.TIOCNXCL, 0)
		return unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH)
	})
}

// Close unplugs: the link goes (unless something else has re-pointed it) and
// both ends close, which the host sees as its line hanging up.
func (p *ptyEnd) Close() error {
	var err error
	if target, lerr := os.Readlink(p.link); lerr == nil && target == p.slaveName {
		if rerr := os.Remove(p.link); rerr != nil {
			err = fmt.Errorf("remove link %s: %w", p.link, rerr)
		}
	}
	p.closeFiles()
	return err
}

func (p *ptyEnd) closeFiles() {
	_ = p.master.Close()
	_ = p.slave.Close()
}

// String names the pty by its link and slave: "/tmp/x/nonin -> /dev/pts/3".
func (p *ptyEnd) String() string { return p.link + " -> " + p.slaveName }

// checkLinkPath refuses a link path vitalsim must not take over: one in a
// directory that does not exist, or one that is something other than a
// symlink (a stale symlink, left by a killed run, is replaced).
func checkLinkPath(link string) error {
	dir := filepath.Dir(link)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("pty link %s: directory %s does not exist", link, dir)
	}
	st, err := os.Lstat(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("pty link %s: %w", link, err)
	case st.Mode()&fs.ModeSymlink == 0:
		return fmt.Errorf("pty link %s: exists and is not a symlink; not replacing it", link)
	}
	return nil
}

// pointLink makes (or atomically re-points) the symlink link to target, the
// way udev keeps /dev/serial/by-id links across a replug.
func pointLink(link, target string) error {
	if err := checkLinkPath(link); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(link), "."+filepath.Base(link)+".vitalsim")
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("pty link: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("pty link: %w", err)
	}
	return nil
}

// control runs fn on f's descriptor without taking it out of the poller
// (File.Fd would put it into blocking mode).
func control(f *os.File, fn func(fd int) error) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := sc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// makeRaw is cfmakeraw(3): no echo, no line editing, no translation, 8 bits.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
