package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
)

// syncBuffer is an io.Writer that tests read while a program writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writeScenario writes a scenario file into dir.
func writeScenario(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "s.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sim is vitalsim's run() in a goroutine, stopped when the test ends.
type simRun struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan int
	stderr *syncBuffer
}

func startRun(t *testing.T, args ...string) *simRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &simRun{t: t, cancel: cancel, done: make(chan int, 1), stderr: &syncBuffer{}}
	go func() { r.done <- run(ctx, args, &syncBuffer{}, r.stderr) }()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("vitalsim log:\n%s", r.stderr.String())
		}
	})
	return r
}

// stop ends the run as SIGTERM would and checks it exits 0 within 5 s.
func (r *simRun) stop() {
	r.t.Helper()
	r.cancel()
	select {
	case code := <-r.done:
		if code != exitOK {
			r.t.Errorf("exit code %d after stop", code)
		}
		r.done <- code // later stops return at once
	case <-time.After(5 * time.Second):
		r.t.Fatal("vitalsim did not stop within 5 s")
	}
}

// waitFor polls cond every 5 ms for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// linkExists reports whether path is a symlink now.
func linkExists(path string) bool {
	st, err := os.Lstat(path)
	return err == nil && st.Mode()&os.ModeSymlink != 0
}

// sink is a drivers.Sink that records what a driver decodes.
type sink struct {
	mu       sync.Mutex
	readings []vitals.Reading
	statuses []vitals.Status
	results  chan vitals.Result
}

func newSink() *sink { return &sink{results: make(chan vitals.Result, 8)} }

func (s *sink) Reading(r vitals.Reading) {
	s.mu.Lock()
	s.readings = append(s.readings, r)
	s.mu.Unlock()
}

func (s *sink) Status(st vitals.Status) {
	s.mu.Lock()
	s.statuses = append(s.statuses, st)
	s.mu.Unlock()
}

func (s *sink) Result(r vitals.Result) { s.results <- r }

// since gives the readings of param p from index from on, and the count.
func (s *sink) since(from int, p vitals.Param) ([]vitals.Reading, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []vitals.Reading
	for _, r := range s.readings[min(from, len(s.readings)):] {
		if r.Param == p {
			out = append(out, r)
		}
	}
	return out, len(s.readings)
}

// lastStatus gives the latest Status.
func (s *sink) lastStatus() vitals.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.statuses) == 0 {
		return vitals.Status{}
	}
	return s.statuses[len(s.statuses)-1]
}

// result waits for the next NIBP result.
func (s *sink) result(t *testing.T, within time.Duration) vitals.Result {
	t.Helper()
	select {
	case r := <-s.results:
		return r
	case <-time.After(within):
		t.Fatalf("no NIBP result within %v", within)
	}
	return vitals.Result{}
}

// countLog counts the lines of a log that hold all of parts.
func countLog(log string, parts ...string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			n++
		}
	}
	return n
}

// hasLog reports whether the log holds a line with all of parts.
func hasLog(log string, parts ...string) bool { return countLog(log, parts...) > 0 }
