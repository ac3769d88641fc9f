package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer the demo writes while the test reads.
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

// TestDemoRunsTheStation: without -terminal the demo runs the station on
// its broker and prints its URL and the demo user's password; the station
// sees the three chairs, the printed password signs in, and the demo's
// one-line summary follows the station.
func TestDemoRunsTheStation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every part for 20 s")
	}
	bin := t.TempDir()
	for _, name := range []string{"chairside", "vitalsim", "station"} {
		if out, err := exec.Command("go", "build", "-o", bin, "../"+name).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	var out, errs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"-bin", bin, "-configs", "../../configs", "-listen", "127.0.0.1:0",
			"-station", "127.0.0.1:0", "-speed", "20", "-for", "20s", "-dir", t.TempDir()}, &out, &errs)
	}()
	banner := regexp.MustCompile(`nursing station: (http://127\.0\.0\.1:\d+/)  \(sign in as nurse, password ([0-9a-f]{16})\)`)
	var m []string
	for deadline := time.Now().Add(20 * time.Second); m == nil; time.Sleep(100 * time.Millisecond) {
		if m = banner.FindStringSubmatch(out.String()); m == nil && time.Now().After(deadline) {
			t.Fatalf("no station URL and password printed:\n%s\n%s", out.String(), errs.String())
		}
	}
	url, password := m[1], m[2]
	var online int
	for deadline := time.Now().Add(15 * time.Second); online < 3; time.Sleep(200 * time.Millisecond) {
		var all struct {
			Chairs []struct {
				Online bool `json:"online"`
			} `json:"chairs"`
		}
		if r, err := http.Get(url + "api/chairs"); err == nil {
			json.NewDecoder(r.Body).Decode(&all)
			r.Body.Close()
		}
		online = 0
		for _, c := range all.Chairs {
			if c.Online {
				online++
			}
		}
		if online < 3 && time.Now().After(deadline) {
			t.Fatalf("the station sees %d chairs online, want 3", online)
		}
	}
	r, err := http.Post(url+"api/signin", "application/json", strings.NewReader(`{"user":"nurse","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Errorf("sign-in with the printed password: HTTP %d", r.StatusCode)
	}
	if page, err := http.Get(url); err != nil || page.StatusCode != 200 {
		t.Errorf("the page: %v %v", page, err)
	} else {
		page.Body.Close()
	}
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errs.String())
	}
	if !regexp.MustCompile(`\d\d:\d\d:\d\d  3 of 3 chairs online`).MatchString(out.String()) {
		t.Errorf("no summary line from the station:\n%s", out.String())
	}
	if strings.Contains(out.String(), "SpO2 9") && strings.Contains(out.String(), "baseline ") {
		t.Errorf("the terminal view ran without -terminal:\n%s", out.String())
	}
	if ps, _ := exec.Command("pgrep", "-f", bin).Output(); len(bytes.TrimSpace(ps)) > 0 {
		t.Fatalf("parts still running after the demo returned: pids %s", ps)
	}
}
