package recorder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/archive"
	"github.com/chairside/chairside/monitor/mqttlink"
)

// flakyWriter fails its first fails writes, then records the batches.
type flakyWriter struct {
	mu      sync.Mutex
	fails   int
	batches []archive.Batch
	acked   *[]string // what was acknowledged when each write began
}

func (w *flakyWriter) Write(_ context.Context, b archive.Batch, _ time.Time) (archive.Result, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fails > 0 {
		w.fails--
		return archive.Result{}, errors.New("database down")
	}
	w.batches = append(w.batches, b)
	return archive.Result{Inserted: len(b.Records), Rejected: len(b.Rejects)}, nil
}

type ackLog struct {
	mu   sync.Mutex
	list []string
}

func (a *ackLog) msg(topic string, payload []byte) mqttlink.Message {
	return mqttlink.Message{Topic: topic, Payload: payload, QoS: 1, Ack: func() {
		a.mu.Lock()
		a.list = append(a.list, fmt.Sprintf("%s %s", topic, payload))
		a.mu.Unlock()
	}}
}

func (a *ackLog) get() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.list)
}

// TestAckOnlyAfterCommitInOrder: while the database fails nothing is
// acknowledged; once a write succeeds every message of it is, in arrival
// order, bad ones included (they are stored aside).
func TestAckOnlyAfterCommitInOrder(t *testing.T) {
	w := &flakyWriter{fails: 2}
	g := New(w, Options{Prefix: "chairside", RetryMin: 20 * time.Millisecond, RetryMax: 40 * time.Millisecond})
	var acks ackLog
	var want []string
	for i := uint64(1); i <= 5; i++ {
		p := must(t, vital(i))
		g.Handle(acks.msg("chairside/c1/vitals/spo2", p))
		want = append(want, fmt.Sprintf("chairside/c1/vitals/spo2 %s", p))
	}
	g.Handle(acks.msg("chairside/c1/vitals/spo2", []byte("garbage")))
	want = append(want, "chairside/c1/vitals/spo2 garbage")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- g.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(acks.get()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if got := acks.get(); !slices.Equal(got, want) {
		t.Fatalf("acks %v\nwant %v", got, want)
	}
	s := g.Stats()
	if s.WriteErrors != 2 || s.Inserted != 5 || s.Rejected != 1 || s.Received != 6 {
		t.Fatalf("stats %+v", s)
	}
}

// TestNoAckWhenStoppedBeforeCommit: a batch that never got stored is never
// acknowledged, and Handle does not hang after Run ended.
func TestNoAckWhenStoppedBeforeCommit(t *testing.T) {
	w := &flakyWriter{fails: 1 << 30}
	g := New(w, Options{Prefix: "chairside", Queue: 1, RetryMin: 10 * time.Millisecond})
	var acks ackLog
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- g.Run(ctx) }()
	g.Handle(acks.msg("chairside/c1/vitals/spo2", must(t, vital(1))))
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not end")
	}
	handled := make(chan struct{})
	go func() {
		for range 3 {
			g.Handle(acks.msg("chairside/c1/vitals/spo2", must(t, vital(2))))
		}
		close(handled)
	}()
	select {
	case <-handled:
	case <-time.After(time.Second):
		t.Fatal("Handle hangs after Run ended")
	}
	if got := acks.get(); len(got) != 0 {
		t.Fatalf("acknowledged without a commit: %v", got)
	}
}

// hungWriter blocks every write until released, ignoring its context: a
// database driver stuck on a dead connection.
type hungWriter struct{ release chan struct{} }

func (w hungWriter) Write(context.Context, archive.Batch, time.Time) (archive.Result, error) {
	<-w.release
	return archive.Result{}, nil
}

// TestHealthyWhileWaitingOrFailingNotWhenHung: the service watchdog's
// signal. Idle and a database that refuses writes (retried) are healthy; a
// write that outlives twice its CommitTimeout is not, and health comes back
// when it returns.
func TestHealthyWhileWaitingOrFailingNotWhenHung(t *testing.T) {
	const bound = 50 * time.Millisecond
	failing := New(&flakyWriter{fails: 1 << 30}, Options{Prefix: "chairside", CommitTimeout: bound, RetryMin: time.Millisecond, RetryMax: time.Millisecond})
	hung := hungWriter{release: make(chan struct{})}
	stuck := New(hung, Options{Prefix: "chairside", CommitTimeout: bound})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if !stuck.Healthy(time.Now()) {
		t.Fatal("an idle ingest is not healthy")
	}
	go failing.Run(ctx)
	go stuck.Run(ctx)
	var acks ackLog
	failing.Handle(acks.msg("chairside/c1/vitals/spo2", must(t, vital(1))))
	stuck.Handle(acks.msg("chairside/c1/vitals/spo2", must(t, vital(1))))
	time.Sleep(3 * bound)
	if !failing.Healthy(time.Now()) {
		t.Error("an ingest retrying a refusing database is reported unhealthy (the watchdog would restart it in a loop)")
	}
	if stuck.Healthy(time.Now()) {
		t.Error("an ingest whose write hangs past twice CommitTimeout is reported healthy")
	}
	close(hung.release)
	deadline := time.Now().Add(2 * time.Second)
	for !stuck.Healthy(time.Now()) {
		if time.Now().After(deadline) {
			t.Fatal("health did not come back after the hung write returned")
		}
		time.Sleep(time.Millisecond)
	}
}
