package hl7

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is an MLLP listener on 127.0.0.1 for tests: it reads frames and
// answers each as its handler says. A nil answer means stay silent (stall).
type receiver struct {
	ln     net.Listener
	answer func(n int, frame []byte) []byte
	// closeAfterAnswer closes each connection after its first answer
	// (set before the first connection).
	closeAfterAnswer bool

	mu     sync.Mutex
	frames [][]byte
	conns  int
	wg     sync.WaitGroup
	done   chan struct{}
}

func newReceiver(t *testing.T, answer func(n int, frame []byte) []byte) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startReceiver(t, ln, answer)
}

func startReceiver(t *testing.T, ln net.Listener, answer func(n int, frame []byte) []byte) *receiver {
	r := &receiver{ln: ln, answer: answer, done: make(chan struct{})}
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(func() {
		close(r.done)
		ln.Close()
		r.wg.Wait()
	})
	return r
}

func (r *receiver) target() string { return "tcp://" + r.ln.Addr().String() }

func (r *receiver) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.conns++
		r.mu.Unlock()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer c.Close()
			go func() { <-r.done; c.Close() }()
			fr := NewFrameReader(c, 0)
			for {
				f, err := fr.ReadFrame()
				if err != nil {
					return
				}
				r.mu.Lock()
				r.frames = append(r.frames, f)
				n := len(r.frames)
				r.mu.Unlock()
				if out := r.answer(n, f); out != nil {
					if _, err := c.Write(out); err != nil || r.closeAfterAnswer {
						return
					}
				}
			}
		}()
	}
}

func (r *receiver) got() ([][]byte, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.frames...), r.conns
}

// ackFor answers a frame with code, naming the frame's control id (read
// from the message as a receiver would) unless id is given.
func ackFor(code, id, text string) func(int, []byte) []byte {
	return func(_ int, f []byte) []byte {
		ctrl := id
		if ctrl == "" {
			msh := strings.Split(strings.SplitN(string(f), "\r", 2)[0], "|")
			ctrl = msh[9]
		}
		var b bytes.Buffer
		_ = WriteFrame(&b, []byte(fmt.Sprintf("MSH|^~\\&|EHR|CLINIC|CHAIRSIDE|CLINIC|20261204||ACK^R01^ACK|A%d|P|2.6\rMSA|%s|%s|%s\r", len(f), code, ctrl, text)))
		return b.Bytes()
	}
}

func testMessage(t *testing.T, seq uint64) Message {
	t.Helper()
	m, err := NIBPMessage(testConfig, "chair-07", "", nibp(seq, wireN(120), wireN(80), wireN(90), wireN(60), ""))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newTestClient(t *testing.T, target string, ackTimeout time.Duration) *Client {
	t.Helper()
	c, err := NewClient(target, ClientOptions{DialTimeout: time.Second, AckTimeout: ackTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSendAnswers(t *testing.T) {
	for name, c := range map[string]struct {
		answer  func(int, []byte) []byte
		code    string
		reason  string
		outcome Outcome
		errText string
	}{
		"AA":             {ackFor("AA", "", ""), "AA", "", Delivered, ""},
		"AE with reason": {ackFor("AE", "", "unknown patient s-1"), "AE", "unknown patient s-1", Refused, ""},
		"AR":             {ackFor("AR", "", "unsupported message type"), "AR", "unsupported message type", Refused, ""},
		"wrong id":       {ackFor("AA", "someone-else", ""), "AA", "", Retry, "ack names another message"},
		"garbage": {func(int, []byte) []byte { return []byte("HTTP/1.1 400 Bad Request\r\n\r\n") },
			"", "", Retry, "outside a frame"},
		"framed garbage": {func(int, []byte) []byte { var b bytes.Buffer; WriteFrame(&b, []byte("hello")); return b.Bytes() },
			"", "", Retry, "MSH"},
	} {
		t.Run(name, func(t *testing.T) {
			r := newReceiver(t, c.answer)
			cl := newTestClient(t, r.target(), 5*time.Second)
			m := testMessage(t, 1)
			ack, err := cl.Send(context.Background(), m)
			if got := Classify(ack, err); got != c.outcome {
				t.Fatalf("outcome %v (ack %+v, err %v), want %v", got, ack, err, c.outcome)
			}
			if c.errText != "" {
				if err == nil || !strings.Contains(err.Error(), c.errText) {
					t.Fatalf("error %v, want one naming %q", err, c.errText)
				}
				if c.errText == "ack names another message" && !errors.Is(err, ErrControlIDMismatch) {
					t.Fatalf("%v is not ErrControlIDMismatch", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if ack.Code != c.code || ack.Reason != c.reason {
				t.Fatalf("ack %+v, want code %q reason %q", ack, c.code, c.reason)
			}
			frames, _ := r.got()
			if len(frames) != 1 || !bytes.Equal(frames[0], m.Bytes()) {
				t.Fatalf("receiver got %q, want the message's bytes", frames)
			}
		})
	}
}

// A receiver that never answers makes Send time out, and a cancelled
// context ends the wait at once; neither hangs. The next Send uses a new
// connection, so a late ack cannot be taken for the next message's.
func TestSendStall(t *testing.T) {
	var mu sync.Mutex
	stall := true
	r := newReceiver(t, func(n int, f []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		if stall {
			return nil
		}
		return ackFor("AA", "", "")(n, f)
	})
	cl := newTestClient(t, r.target(), 200*time.Millisecond)
	start := time.Now()
	_, err := cl.Send(context.Background(), testMessage(t, 1))
	if err == nil || !strings.Contains(err.Error(), "no answer within 200ms") {
		t.Fatalf("stalled receiver: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("timeout took %v", d)
	}

	cl2 := newTestClient(t, r.target(), time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	start = time.Now()
	_, err = cl2.Send(ctx, testMessage(t, 2))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled send: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("cancel took %v", d)
	}

	mu.Lock()
	stall = false
	mu.Unlock()
	ack, err := cl.Send(context.Background(), testMessage(t, 3))
	if err != nil || !ack.Accepted() || ack.ControlID != "chair-07.n.b3f9.3" {
		t.Fatalf("after the stall: %+v, %v", ack, err)
	}
	if _, conns := r.got(); conns != 3 {
		t.Fatalf("%d connections, want 3 (a new one after the timeout)", conns)
	}
}

// One connection carries many messages; when the receiver has closed it
// (idle, restarted), Send connects again at once and the message goes
// through in the same call; a receiver that is not there is an error
// naming the address, promptly.
func TestSendReconnects(t *testing.T) {
	r := newReceiver(t, ackFor("AA", "", ""))
	cl := newTestClient(t, r.target(), 2*time.Second)
	for seq := uint64(1); seq <= 2; seq++ {
		if ack, err := cl.Send(context.Background(), testMessage(t, seq)); err != nil || !ack.Accepted() {
			t.Fatalf("send %d: %+v %v", seq, ack, err)
		}
	}
	if _, conns := r.got(); conns != 1 {
		t.Fatalf("%d connections for two messages, want 1", conns)
	}
	// A receiver that closes each connection after its ack: every
	// message still goes through in one Send.
	closing := newReceiver(t, ackFor("AA", "", ""))
	closing.closeAfterAnswer = true
	cl2 := newTestClient(t, closing.target(), 2*time.Second)
	for seq := uint64(1); seq <= 3; seq++ {
		if ack, err := cl2.Send(context.Background(), testMessage(t, seq)); err != nil || !ack.Accepted() {
			t.Fatalf("send %d to a receiver that closes: %+v %v", seq, ack, err)
		}
		time.Sleep(10 * time.Millisecond) // the receiver's close arrives
	}
	if frames, conns := closing.got(); len(frames) != 3 || conns != 3 {
		t.Fatalf("closing receiver: %d messages on %d connections, want 3 on 3", len(frames), conns)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	down := newTestClient(t, "tcp://"+addr, time.Second)
	start := time.Now()
	_, err := down.Send(context.Background(), testMessage(t, 1))
	if err == nil || !strings.Contains(err.Error(), addr) || time.Since(start) > 3*time.Second {
		t.Fatalf("receiver down: %v after %v", err, time.Since(start))
	}
}

func TestNewClientTargets(t *testing.T) {
	for _, bad := range []string{"", "127.0.0.1:2575", "mllp://h:1", "tcp://", "tcp://h", "tcp://:2575"} {
		if _, err := NewClient(bad, ClientOptions{}); err == nil {
			t.Errorf("target %q accepted", bad)
		}
	}
	if _, err := NewClient("tcp://ehr.clinic:2575", ClientOptions{}); err != nil {
		t.Error(err)
	}
}
