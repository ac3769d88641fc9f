package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openHost opens the link as a host would (raw, as go.bug.st/serial does).
func openHost(t *testing.T, link string) *os.File {
	t.Helper()
	f, err := os.OpenFile(link, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// readUntil reads f until what it read ends with end.
func readUntil(t *testing.T, f *os.File, end []byte) []byte {
	t.Helper()
	if err := f.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 256)
	for !bytes.HasSuffix(got, end) {
		k, err := f.Read(buf)
		if err != nil {
			t.Fatalf("read after %q: %v", got, err)
		}
		got = append(got, buf[:k]...)
	}
	return got
}

func TestPTYCarriesBytesBothWays(t *testing.T) {
	link := filepath.Join(t.TempDir(), "dev")
	p, err := openPTY(link, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if target, _ := os.Readlink(link); target != p.slaveName || p.String() != link+" -> "+p.slaveName {
		t.Fatalf("link -> %q, end %s", target, p)
	}
	host := openHost(t, link)
	frame := []byte{0x01, 0x81, 0x0D, 0x0A, 0x11, 0x13, 0x00, 0xFF} // CR, LF, XON, XOFF pass untouched: raw
	if _, err := p.Write(frame); err != nil {
		t.Fatal(err)
	}
	if got := readUntil(t, host, frame); !bytes.Equal(got, frame) {
		t.Errorf("host read % X, want % X", got, frame)
	}
	if _, err := host.Write([]byte(":\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, err := p.Read(buf); err != nil || string(buf[:n]) != ":\r\n" {
		t.Errorf("device read %q %v", buf[:n], err)
	}
}

// Bytes nobody reads are dropped once more than staleBytes wait: a host
// that opens the line later gets current data, not a backlog.
func TestPTYDropsStaleInput(t *testing.T) {
	link := filepath.Join(t.TempDir(), "dev")
	p, err := openPTY(link, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for range 10 {
		if _, err := p.Write([]byte("old-old-")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // let the tty move it to the input queue
	}
	host := openHost(t, link)
	time.Sleep(20 * time.Millisecond) // everything in the input queue, where the check counts it
	if _, err := p.Write([]byte("NEW")); err != nil {
		t.Fatal(err)
	}
	if got := readUntil(t, host, []byte("NEW")); len(got) > 16+3 {
		t.Errorf("host read %q: want at most 16 stale bytes before NEW", got)
	}
}

// Close is an unplug: the link goes, the host's read ends, and a device
// Read pending on the master returns.
func TestPTYCloseIsAnUnplug(t *testing.T) {
	link := filepath.Join(t.TempDir(), "dev")
	p, err := openPTY(link, 64)
	if err != nil {
		t.Fatal(err)
	}
	host := openHost(t, link)
	pending := make(chan error, 1)
	go func() {
		_, err := p.Read(make([]byte, 8))
		pending <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Errorf("link still there: %v", err)
	}
	select {
	case err := <-pending:
		if err == nil {
			t.Error("pending read returned no error")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a Read pending on the master survived Close")
	}
	_ = host.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := host.Read(make([]byte, 8)); err == nil || n != 0 {
		t.Errorf("host read after unplug: %d %v", n, err)
	}
}

// A link something else has re-pointed meanwhile is left alone.
func TestPTYCloseLeavesAForeignLink(t *testing.T) {
	link := filepath.Join(t.TempDir(), "dev")
	p, err := openPTY(link, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := pointLink(link, "/dev/null"); err != nil {
		t.Fatal(err)
	}
	_ = p.Close()
	if target, err := os.Readlink(link); err != nil || target != "/dev/null" {
		t.Errorf("link %q %v", target, err)
	}
}
