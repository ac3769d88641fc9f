package main

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// A password typed on a terminal is not echoed.
func TestPasswdNotEchoed(t *testing.T) {
	master, tty, err := pty.Open()
	if err != nil {
		t.Skip("no pty:", err)
	}
	defer master.Close()
	defer tty.Close()
	var echoed syncBuf
	go io.Copy(&echoed, master)
	var stderr syncBuf
	done := make(chan int, 1)
	users := filepath.Join(t.TempDir(), "users")
	go func() { done <- setPassword("ann", users, tty, io.Discard, &stderr) }()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(stderr.String(), "password for ann"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no prompt")
		}
	}
	master.Write([]byte("hidden horse\nhidden horse\n"))
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("setPassword did not return")
	}
	time.Sleep(100 * time.Millisecond)
	if strings.Contains(echoed.String(), "hidden") {
		t.Fatalf("the terminal echoed the password: %q", echoed.String())
	}
}
