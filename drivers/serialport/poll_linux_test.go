//go:build linux

package serialport

import (
	"errors"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/serialport/serialtest"
	"go.bug.st/serial"
	"golang.org/x/sys/unix"
)

func openPTY(t *testing.T, timeout time.Duration) (*serialtest.PTY, *Port) {
	t.Helper()
	pt := serialtest.New(t)
	cfg, err := Config{Path: pt.Name, Mode: serial.Mode{BaudRate: 9600}, ReadTimeout: timeout}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	p, err := open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if p.pl == nil {
		t.Fatal("the library's port on a pty did not get a pollable descriptor")
	}
	return pt, p
}

// isPortClosed: the library's own error, as its Read would give.
func isPortClosed(err error) bool {
	var pe *serial.PortError
	return errors.As(err, &pe) && pe.Code() == serial.PortClosed
}

func TestPollReadKeepsLibraryErrors(t *testing.T) {
	t.Run("unplug", func(t *testing.T) {
		pt, p := openPTY(t, time.Second)
		if _, err := pt.Master.Write([]byte("ab")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8)
		if n, err := p.Read(buf); n != 2 || err != nil {
			t.Fatalf("Read = %d, %v; want 2, nil", n, err)
		}
		pt.Unplug()
		t0 := time.Now()
		n, err := p.Read(buf)
		if n != 0 || !isPortClosed(err) || !IsUnplug(err) {
			t.Errorf("Read after unplug = %d, %v; want the library's PortClosed", n, err)
		}
		if d := time.Since(t0); d > 500*time.Millisecond {
			t.Errorf("unplug seen after %v, not at once", d)
		}
		if _, err := p.Write([]byte("x")); !IsUnplug(err) {
			t.Errorf("Write after unplug = %v; IsUnplug false", err)
		}
	})
	t.Run("close during read", func(t *testing.T) {
		_, p := openPTY(t, time.Hour)
		got := make(chan error, 1)
		go func() {
			_, err := p.Read(make([]byte, 8))
			got <- err
		}()
		time.Sleep(20 * time.Millisecond)
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-got:
			if !isPortClosed(err) {
				t.Errorf("Read ended by Close = %v; want the library's PortClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not unblock Read")
		}
		if _, err := p.Read(make([]byte, 1)); !isPortClosed(err) {
			t.Errorf("Read after Close = %v; want PortClosed", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		pt, p := openPTY(t, 30*time.Millisecond)
		t0 := time.Now()
		if n, err := p.Read(make([]byte, 8)); n != 0 || !errors.Is(err, ErrTimeout) {
			t.Fatalf("Read on a silent port = %d, %v; want ErrTimeout", n, err)
		}
		if d := time.Since(t0); d < 25*time.Millisecond || d > time.Second {
			t.Errorf("timeout after %v, want about 30ms", d)
		}
		// The deadline is per Read: a later byte is still read.
		go func() {
			time.Sleep(50 * time.Millisecond)
			_, _ = pt.Master.Write([]byte{0x7f})
		}()
		buf := make([]byte, 8)
		for deadline := time.Now().Add(5 * time.Second); ; {
			n, err := p.Read(buf)
			if n == 1 && buf[0] == 0x7f {
				break
			}
			if (err != nil && !errors.Is(err, ErrTimeout)) || time.Now().After(deadline) {
				t.Fatalf("Read = %d, %v", n, err)
			}
		}
	})
}

func TestWake(t *testing.T) {
	pt, p := openPTY(t, time.Hour)
	if !p.CanWake() {
		t.Fatal("CanWake = false on the library's port")
	}
	got := make(chan error, 1)
	go func() {
		_, err := p.ReadWait(make([]byte, 8), time.Hour)
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	p.Wake()
	select {
	case err := <-got:
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("woken ReadWait = %v; want ErrTimeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wake did not end a pending ReadWait")
	}

	// A wake with no read pending ends the next one, and only that one.
	p.Wake()
	t0 := time.Now()
	if _, err := p.ReadWait(make([]byte, 8), time.Hour); !errors.Is(err, ErrTimeout) || time.Since(t0) > time.Second {
		t.Errorf("ReadWait after Wake = %v after %v; want ErrTimeout at once", err, time.Since(t0))
	}
	if _, err := pt.Master.Write([]byte("z")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, err := p.ReadWait(buf, 5*time.Second); n != 1 || err != nil || buf[0] != 'z' {
		t.Errorf("ReadWait = %d %q, %v; want the byte", n, buf[:n], err)
	}
	// ReadWait's timeout is for that call: Read keeps the configured one.
	t0 = time.Now()
	if _, err := p.ReadWait(buf, 30*time.Millisecond); !errors.Is(err, ErrTimeout) || time.Since(t0) > time.Second {
		t.Errorf("ReadWait(30ms) on a silent port = %v after %v", err, time.Since(t0))
	}
}

// epollReady reports how many descriptors the Port's epoll instance has
// ready: what the runtime's poller would be woken for.
func epollReady(t *testing.T, p *Port) int {
	t.Helper()
	var n int
	var werr error
	err := p.pl.rc.Control(func(fd uintptr) {
		n, werr = unix.EpollWait(int(fd), make([]unix.EpollEvent, 4), 0)
	})
	if err != nil || werr != nil {
		t.Fatalf("epoll_wait on the Port's instance: %v, %v", err, werr)
	}
	return n
}

// TestUnwatchedBytesWaitForTheNextRead: bytes that arrive while a paced
// reader has taken the port out of its epoll instance (PumpPaced's pause)
// make nothing ready, so they wake no thread; the next Read takes them at
// once without watching again, a Read that then waits is woken by new bytes,
// and an unplug during the pause is seen by the next Read. Only the Read
// that waited for its bytes says so (waited), since only their arrival time
// is then known.
func TestUnwatchedBytesWaitForTheNextRead(t *testing.T) {
	pt, p := openPTY(t, 5*time.Second)
	buf := make([]byte, 64)
	for round := 0; round < 3; round++ {
		p.unwatch()
		p.unwatch() // twice is once
		if _, err := pt.Master.Write([]byte("abc")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		if n := epollReady(t, p); n != 0 {
			t.Fatalf("round %d: %d descriptor(s) ready for bytes that arrived during the pause; want none", round, n)
		}
		t0 := time.Now()
		if n, err := p.Read(buf); err != nil || string(buf[:n]) != "abc" || time.Since(t0) > time.Second {
			t.Fatalf("round %d: Read after the pause = %q, %v after %v; want the waiting bytes at once", round, buf[:n], err, time.Since(t0))
		}
		if p.waited() {
			t.Errorf("round %d: Read of bytes that waited in the buffer says it waited for them", round)
		}
		go func() {
			time.Sleep(30 * time.Millisecond)
			_, _ = pt.Master.Write([]byte("d"))
		}()
		if n, err := p.Read(buf); err != nil || string(buf[:n]) != "d" {
			t.Fatalf("round %d: waiting Read = %q, %v; want the new byte", round, buf[:n], err)
		}
		if !p.waited() {
			t.Errorf("round %d: Read that waited for its byte does not say so", round)
		}
		// Watched again: arriving bytes make the instance ready.
		if _, err := pt.Master.Write([]byte("e")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		if n := epollReady(t, p); n != 1 {
			t.Fatalf("round %d: watched port with a waiting byte: %d ready, want 1", round, n)
		}
		if n, err := p.Read(buf); err != nil || string(buf[:n]) != "e" || p.waited() {
			t.Fatalf("round %d: Read = %q, %v, waited %v; want the byte, which did not wait", round, buf[:n], err, p.waited())
		}
	}
	p.unwatch()
	pt.Unplug()
	if n, err := p.Read(buf); n != 0 || !isPortClosed(err) {
		t.Errorf("Read after an unplug during the pause = %d, %v; want the library's PortClosed", n, err)
	}
}

// TestReadAfter: bytes that arrive during ReadAfter's wait do not end it
// (nor make the epoll instance ready), and it then returns them; it returns
// ErrTimeout when nothing came, ends at once on Wake, and an unplug during
// it is the library's error at its end.
func TestReadAfter(t *testing.T) {
	pt, p := openPTY(t, 5*time.Second)
	buf := make([]byte, 64)
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, _ = pt.Master.Write([]byte("x"))
	}()
	if n, err := p.Read(buf); err != nil || n != 1 || !p.waited() {
		t.Fatalf("Read = %d, %v, waited %v; want the byte it waited for", n, err, p.waited())
	}
	const wait = 150 * time.Millisecond
	go func() {
		time.Sleep(10 * time.Millisecond)
		_, _ = pt.Master.Write([]byte("answer"))
	}()
	ready := make(chan int, 1)
	go func() {
		time.Sleep(60 * time.Millisecond)
		ready <- epollReady(t, p)
	}()
	t0 := time.Now()
	n, err := p.ReadAfter(buf, wait)
	if took := time.Since(t0); err != nil || string(buf[:n]) != "answer" || took < wait || p.waited() {
		t.Fatalf("ReadAfter = %q, %v after %v, waited %v; want the answer after %v, not as just arrived", buf[:n], err, took, p.waited(), wait)
	}
	if n := <-ready; n != 0 {
		t.Errorf("%d descriptor(s) ready for bytes that arrived during ReadAfter; want none", n)
	}
	if n, err := p.ReadAfter(buf, 20*time.Millisecond); n != 0 || !errors.Is(err, ErrTimeout) {
		t.Errorf("ReadAfter with nothing sent = %d, %v; want ErrTimeout", n, err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		p.Wake()
	}()
	t0 = time.Now()
	if n, err := p.ReadAfter(buf, 5*time.Second); n != 0 || !errors.Is(err, ErrTimeout) || time.Since(t0) > 2*time.Second {
		t.Errorf("ReadAfter woken = %d, %v after %v; want ErrTimeout at once", n, err, time.Since(t0))
	}
	// Reading as usual afterwards: a waiting Read is woken by bytes.
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, _ = pt.Master.Write([]byte("x"))
	}()
	if n, err := p.Read(buf); err != nil || string(buf[:n]) != "x" || !p.waited() {
		t.Fatalf("Read after ReadAfter = %q, %v, waited %v; want the byte it waited for", buf[:n], err, p.waited())
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		pt.Unplug()
	}()
	if n, err := p.ReadAfter(buf, 50*time.Millisecond); n != 0 || !isPortClosed(err) {
		t.Errorf("ReadAfter across an unplug = %d, %v; want the library's PortClosed", n, err)
	}
}

// TestWriteWaitsForRoom: Write writes everything, even more than the tty
// takes at once (it waits for a slow reader to drain), a Close during a
// write stalled on a full buffer ends it at once with an unplug error, and a
// later Write fails the same way.
func TestWriteWaitsForRoom(t *testing.T) {
	pt, p := openPTY(t, time.Second)
	big := make([]byte, 256<<10) // far beyond a pty's buffer
	for i := range big {
		big[i] = byte(i)
	}
	got := make(chan []byte, 1)
	go func() {
		var all []byte
		b := make([]byte, 4096)
		for len(all) < len(big) {
			time.Sleep(time.Millisecond) // a slow reader: the writer must wait
			n, err := pt.Master.Read(b)
			if err != nil {
				break
			}
			all = append(all, b[:n]...)
		}
		got <- all
	}()
	if n, err := p.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(big))
	}
	select {
	case all := <-got:
		if string(all) != string(big) {
			t.Fatalf("the reader got %d bytes, not what was written", len(all))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the written bytes did not all arrive")
	}

	// Nobody reads now: the write stalls until Close.
	werr := make(chan error, 1)
	go func() {
		_, err := p.Write(big)
		werr <- err
	}()
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	_ = p.Close()
	select {
	case err := <-werr:
		if !IsUnplug(err) {
			t.Errorf("stalled Write ended by Close = %v; want an unplug error", err)
		}
		if d := time.Since(t0); d > 500*time.Millisecond {
			t.Errorf("stalled Write ended %v after Close, not at once", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a stalled Write")
	}
	if _, err := p.Write([]byte("x")); !IsUnplug(err) {
		t.Errorf("Write after Close = %v; want an unplug error", err)
	}
}
