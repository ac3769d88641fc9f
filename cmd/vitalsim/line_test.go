package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakeEnd is an endpoint whose host side the test plays: send gives bytes
// to the line's Read, written() is what the line wrote.
type fakeEnd struct {
	name   string
	in     chan []byte
	closed chan struct{}
	once   sync.Once
	mu     sync.Mutex
	out    bytes.Buffer
	werr   error
}

func newFakeEnd(name string) *fakeEnd {
	return &fakeEnd{name: name, in: make(chan []byte, 8), closed: make(chan struct{})}
}

func (f *fakeEnd) Read(b []byte) (int, error) {
	select {
	case p := <-f.in:
		return copy(b, p), nil
	case <-f.closed:
		return 0, io.EOF
	}
}

func (f *fakeEnd) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.werr != nil {
		return 0, f.werr
	}
	return f.out.Write(b)
}

func (f *fakeEnd) written() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.out.String()
}

func (f *fakeEnd) isClosed() bool {
	select {
	case <-f.closed:
		return true
	default:
		return false
	}
}

func (f *fakeEnd) Close() error   { f.once.Do(func() { close(f.closed) }); return nil }
func (f *fakeEnd) String() string { return f.name }

// fakeLine is a line whose every plug makes a new fakeEnd.
type fakeLine struct {
	*line
	mu   sync.Mutex
	ends []*fakeEnd
	log  *syncBuffer
}

func newFakeLine(keep bool) *fakeLine {
	fl := &fakeLine{log: &syncBuffer{}}
	fl.line = newLine("dev", slog.New(slog.NewTextHandler(fl.log, nil)), keep, func() (endpoint, error) {
		fl.mu.Lock()
		defer fl.mu.Unlock()
		e := newFakeEnd(fmt.Sprintf("end%d", len(fl.ends)+1))
		fl.ends = append(fl.ends, e)
		return e, nil
	})
	return fl
}

func (fl *fakeLine) end(i int) *fakeEnd {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if i >= len(fl.ends) {
		return nil
	}
	return fl.ends[i]
}

// readAsync starts a Read and returns what it gives.
func readAsync(l *line) <-chan string {
	ch := make(chan string, 1)
	go func() {
		b := make([]byte, 64)
		n, err := l.Read(b)
		if err != nil {
			ch <- "error: " + err.Error()
			return
		}
		ch <- string(b[:n])
	}()
	return ch
}

func expect(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Errorf("Read gave %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Read still blocked, want %q", want)
	}
}

func blocked(t *testing.T, ch <-chan string) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("Read gave %q, want it blocked", got)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestLineUnplugReplug(t *testing.T) {
	fl := newFakeLine(false)
	if err := fl.start(); err != nil {
		t.Fatal(err)
	}
	e1 := fl.end(0)
	if n, err := fl.Write([]byte("abc")); n != 3 || err != nil || e1.written() != "abc" {
		t.Fatalf("write: %d %v %q", n, err, e1.written())
	}
	r := readAsync(fl.line)
	e1.in <- []byte("cmd")
	expect(t, r, "cmd")

	// A Read pending when the cable is pulled stays blocked until the replug
	// and gives only what comes on the new endpoint.
	r = readAsync(fl.line)
	blocked(t, r)
	fl.unplug()
	if !e1.isClosed() {
		t.Error("unplug did not close the endpoint")
	}
	if n, err := fl.Write([]byte("lost")); n != 4 || err != nil {
		t.Errorf("write while unplugged: %d %v", n, err)
	}
	blocked(t, r)
	fl.unplug() // twice is harmless
	if err := fl.replug(); err != nil {
		t.Fatal(err)
	}
	e2 := fl.end(1)
	if e2 == nil || fl.end(2) != nil {
		t.Fatal("replug did not make exactly one new endpoint")
	}
	e2.in <- []byte("new")
	expect(t, r, "new")
	if _, _ = fl.Write([]byte("x")); e2.written() != "x" || e1.written() != "abc" {
		t.Errorf("after replug: old %q new %q", e1.written(), e2.written())
	}
	if err := fl.replug(); err != nil || fl.end(2) != nil {
		t.Error("replug while plugged made an endpoint")
	}

	// Close: reads and writes end with errLineClosed.
	r = readAsync(fl.line)
	if err := fl.close(); err != nil {
		t.Fatal(err)
	}
	expect(t, r, "error: "+errLineClosed.Error())
	if _, err := fl.Write([]byte("x")); !errors.Is(err, errLineClosed) {
		t.Errorf("write after close: %v", err)
	}
	if !e2.isClosed() {
		t.Error("close did not close the endpoint")
	}
}

// A cable pulled at t = 0 is not plugged in by start, only by the replug.
func TestLineUnpluggedAtStart(t *testing.T) {
	fl := newFakeLine(false)
	fl.unplug()
	if err := fl.start(); err != nil || fl.end(0) != nil {
		t.Fatalf("start opened an unplugged line: %v", err)
	}
	r := readAsync(fl.line)
	blocked(t, r)
	if err := fl.replug(); err != nil {
		t.Fatal(err)
	}
	fl.end(0).in <- []byte("hi")
	expect(t, r, "hi")
	_ = fl.close()
}

// A real port stays open while "unplugged": the line goes quiet both ways.
func TestLineRealPortGoesQuiet(t *testing.T) {
	fl := newFakeLine(true)
	if err := fl.start(); err != nil {
		t.Fatal(err)
	}
	e := fl.end(0)
	fl.unplug()
	if e.isClosed() {
		t.Fatal("a real port was closed by an unplug")
	}
	_, _ = fl.Write([]byte("lost"))
	r := readAsync(fl.line)
	e.in <- []byte("ignored")
	waitFor(t, "the read", func() bool { return len(e.in) == 0 })
	blocked(t, r) // and long enough for the read to have dropped it
	if err := fl.replug(); err != nil || fl.end(1) != nil {
		t.Fatalf("replug of a real port: %v", err)
	}
	e.in <- []byte("heard")
	expect(t, r, "heard")
	_, _ = fl.Write([]byte("sent"))
	if e.written() != "sent" {
		t.Errorf("written %q", e.written())
	}
	_ = fl.close()
}

// An endpoint error loses the bytes, is logged once, and never reaches the
// model (which would stop).
func TestLineWriteErrorLoggedOnce(t *testing.T) {
	fl := newFakeLine(false)
	if err := fl.start(); err != nil {
		t.Fatal(err)
	}
	e := fl.end(0)
	e.werr = errors.New("EIO")
	for range 3 {
		if n, err := fl.Write([]byte("ab")); n != 2 || err != nil {
			t.Fatalf("write: %d %v", n, err)
		}
	}
	if n := bytes.Count([]byte(fl.log.String()), []byte("line write failed")); n != 1 {
		t.Errorf("%d warnings:\n%s", n, fl.log.String())
	}
	_ = fl.close()
}
