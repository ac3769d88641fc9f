package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// LockFileName is the daemon's lock in the store directory. One chairside
// per store: a second one would find the store locked, run on without it,
// share the sensors' bytes with the first (each reading half a frame
// stream: false numbers) and take over its MQTT client id. So the second one
// stops before it opens anything.
const LockFileName = "chairside.lock"

// lockWait is how long a starting daemon waits for the lock: long enough
// for a predecessor that systemd is still stopping (it has 5 s, and is
// usually gone at once), short enough that a second daemon started by hand
// says so at once. A signal ends the wait.
const lockWait = 3 * time.Second

// errLocked says that another daemon holds the lock.
var errLocked = errors.New("another chairside is running with this store")

// daemonLock is the held lock: the open lock file, flock(2)ed. The kernel
// releases it when the process ends, however it ends.
type daemonLock struct {
	f *os.File
}

// acquireLock takes the exclusive lock on dir/chairside.lock, waiting up to
// wait for a holder to go. It returns errLocked (wrapped with the file and
// the holder's pid when known) when the lock stays taken, ctx.Err() when ctx
// ends first, and another error when the file cannot be made.
func acquireLock(ctx context.Context, dir string, wait time.Duration) (*daemonLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock: create the store directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: open %s: %w", path, err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("lock: flock %s: %w", path, err)
		}
		if !time.Now().Before(deadline) {
			holder := readPID(f)
			_ = f.Close()
			if holder != "" {
				return nil, fmt.Errorf("%w: %s is held by pid %s", errLocked, path, holder)
			}
			return nil, fmt.Errorf("%w: %s is held", errLocked, path)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Ours: say who holds it, for the next one's message.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &daemonLock{f: f}, nil
}

// readPID reads the holder's pid from the lock file ("" when unreadable).
func readPID(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	s := strings.TrimSpace(string(b[:n]))
	if _, err := strconv.Atoi(s); err != nil {
		return ""
	}
	return s
}

// release unlocks (the file stays: removing it would let a third daemon lock
// a new file while a second one waits on the old).
func (l *daemonLock) release() {
	if l != nil {
		_ = l.f.Close()
	}
}
