package hl7

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPolicyDelay(t *testing.T) {
	p := Policy{First: time.Second, Max: 10 * time.Second}
	want := []time.Duration{0, 1, 2, 4, 8, 10, 10}
	for i, w := range want {
		if got := p.Delay(i); got != w*time.Second {
			t.Errorf("Delay(%d) = %v, want %v", i, got, w*time.Second)
		}
	}
	if got := p.Delay(1 << 30); got != 10*time.Second {
		t.Errorf("after very many failures: %v", got)
	}
	if got := (Policy{}).Delay(1); got != DefaultPolicy.First {
		t.Errorf("zero policy: %v", got)
	}
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	if got := p.Next(now, 3); !got.Equal(now.Add(4 * time.Second)) {
		t.Errorf("Next = %v", got)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		ack  Ack
		err  error
		want Outcome
	}{
		{Ack{Code: "AA"}, nil, Delivered},
		{Ack{Code: "CA"}, nil, Delivered},
		{Ack{Code: "AE"}, nil, Refused},
		{Ack{Code: "AR"}, nil, Refused},
		{Ack{Code: "CR"}, nil, Refused},
		{Ack{Code: "AA"}, errors.New("mismatch"), Retry},
		{Ack{}, errors.New("timeout"), Retry},
		{Ack{}, nil, Retry},
	} {
		if got := Classify(c.ack, c.err); got != c.want {
			t.Errorf("Classify(%+v, %v) = %v, want %v", c.ack, c.err, got, c.want)
		}
	}
}

// Deliver retries an unknown outcome with the policy's back-off (a fake
// wait: no sleeping) and stops at the receiver's decision.
func TestDeliver(t *testing.T) {
	msg := testMessage(t, 1)
	for name, c := range map[string]struct {
		answers  []Ack
		errs     []error
		attempts int
		code     string
	}{
		"AA at once":       {[]Ack{{Code: "AA"}}, []error{nil}, 1, "AA"},
		"down then AA":     {[]Ack{{}, {}, {}, {Code: "AA"}}, []error{errors.New("refused"), errors.New("timeout"), errors.New("garbage"), nil}, 4, "AA"},
		"down then AE":     {[]Ack{{}, {Code: "AE", Reason: "bad"}}, []error{errors.New("refused"), nil}, 2, "AE"},
		"mismatch then AR": {[]Ack{{Code: "AA"}, {Code: "AR"}}, []error{ErrControlIDMismatch, nil}, 2, "AR"},
	} {
		t.Run(name, func(t *testing.T) {
			i := 0
			send := func(context.Context, Message) (Ack, error) {
				a, e := c.answers[i], c.errs[i]
				i++
				return a, e
			}
			var waits []time.Duration
			wait := func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			ack, n, err := Deliver(context.Background(), send, msg, Policy{First: time.Second, Max: 3 * time.Second}, wait)
			if err != nil || n != c.attempts || ack.Code != c.code {
				t.Fatalf("Deliver = %+v, %d, %v; want %s after %d", ack, n, err, c.code, c.attempts)
			}
			want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}[:c.attempts-1]
			if !slices.Equal(waits, want) {
				t.Fatalf("waits %v, want %v", waits, want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	send := func(context.Context, Message) (Ack, error) { return Ack{}, errors.New("connection refused") }
	waits := 0
	wait := func(ctx context.Context, d time.Duration) error {
		if waits++; waits == 5 {
			cancel()
		}
		return ctx.Err()
	}
	_, n, err := Deliver(ctx, send, msg, DefaultPolicy, wait)
	if !errors.Is(err, context.Canceled) || n != 5 || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("cancelled Deliver: %d attempts, %v", n, err)
	}
}

// A receiver that is down when forwarding starts gets the message once it
// is up, through the real client, and exactly once.
func TestDeliverReceiverComesUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cl := newTestClient(t, "tcp://"+addr, 2*time.Second)
	var r *receiver
	waits := 0
	wait := func(ctx context.Context, d time.Duration) error {
		if waits++; waits == 3 {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("the port was taken meanwhile: %v", err)
			}
			r = startReceiver(t, l, ackFor("AA", "", ""))
		}
		return ctx.Err()
	}
	msg := testMessage(t, 1)
	ack, n, err := Deliver(context.Background(), cl.Send, msg, DefaultPolicy, wait)
	if err != nil || !ack.Accepted() || n != 4 {
		t.Fatalf("Deliver = %+v, %d, %v", ack, n, err)
	}
	if frames, _ := r.got(); len(frames) != 1 || !bytes.Equal(frames[0], msg.Bytes()) {
		t.Fatalf("receiver got %d frames", len(frames))
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context: %v", err)
	}
}
