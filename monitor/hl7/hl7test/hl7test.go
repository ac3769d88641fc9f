// Package hl7test is an MLLP receiver for tests, on 127.0.0.1: it reads
// framed messages, keeps them, and answers each as the test decides (AA,
// AE, AR with a reason, or no answer at all). It can be stopped and
// started again on the same port, as a records system that goes down.
package hl7test

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/chairside/chairside/monitor/hl7"
)

// Answer is what the receiver says to one message: an ack code (AA, AE,
// AR...) and its text, or Stall to read it and never answer.
type Answer struct {
	Code, Text string
	Stall      bool
}

// Received is one message the receiver read.
type Received struct {
	ControlID string // MSH-10
	Frame     []byte
}

// Receiver is a running (or stopped) MLLP receiver.
type Receiver struct {
	t      testing.TB
	addr   string
	answer func(r Received, n int) Answer

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	got   []Received
	wg    sync.WaitGroup
	// arrived is signalled (without blocking) at every message read.
	arrived chan struct{}
}

// AA answers every message AA.
func AA(Received, int) Answer { return Answer{Code: "AA"} }

// Start listens on 127.0.0.1 at a free port; answer decides each reply (n
// counts the messages read, from 1). It stops at the test's end.
func Start(t testing.TB, answer func(r Received, n int) Answer) *Receiver {
	t.Helper()
	r := &Receiver{t: t, addr: "127.0.0.1:0", answer: answer, conns: map[net.Conn]bool{}, arrived: make(chan struct{}, 1)}
	r.Up()
	t.Cleanup(r.Down)
	return r
}

// Target is the receiver's address as the recorder's [hl7] target takes it.
func (r *Receiver) Target() string { return "tcp://" + r.addr }

// SetAnswer changes how the receiver answers from now on.
func (r *Receiver) SetAnswer(answer func(Received, int) Answer) {
	r.mu.Lock()
	r.answer = answer
	r.mu.Unlock()
}

// Up starts listening again on the same port (after Down).
func (r *Receiver) Up() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("hl7test: listen %s: %v", r.addr, err)
	}
	r.ln, r.addr = ln, ln.Addr().String()
	r.wg.Add(1)
	go r.serve(ln)
}

// Down closes the listener and every connection: the receiver is gone.
func (r *Receiver) Down() {
	r.mu.Lock()
	ln := r.ln
	r.ln = nil
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	r.wg.Wait()
}

// Got returns the messages read so far, in order.
func (r *Receiver) Got() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.got...)
}

// Arrived is signalled when a message has been read (poll Got after it).
func (r *Receiver) Arrived() <-chan struct{} { return r.arrived }

func (r *Receiver) serve(ln net.Listener) {
	defer r.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.ln != ln {
			r.mu.Unlock()
			c.Close()
			return
		}
		r.conns[c] = true
		r.mu.Unlock()
		r.wg.Add(1)
		go r.conn(c)
	}
}

func (r *Receiver) conn(c net.Conn) {
	defer r.wg.Done()
	defer func() {
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		c.Close()
	}()
	fr := hl7.NewFrameReader(c, 0)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		rec := Received{ControlID: ControlID(f), Frame: f}
		r.mu.Lock()
		r.got = append(r.got, rec)
		n := len(r.got)
		answer := r.answer
		r.mu.Unlock()
		select {
		case r.arrived <- struct{}{}:
		default:
		}
		a := answer(rec, n)
		if a.Stall {
			continue // read on, never answer
		}
		if _, err := c.Write(Ack(rec.ControlID, a.Code, a.Text)); err != nil {
			return
		}
	}
}

// ControlID reads MSH-10 of a message ("" when there is none).
func ControlID(msg []byte) string {
	msh, _, _ := strings.Cut(string(msg), "\r")
	f := strings.Split(msh, "|")
	if len(f) < 10 || f[0] != "MSH" {
		return ""
	}
	return hl7.Unescape(f[9])
}

// Ack frames an acknowledgement of controlID with code and text.
func Ack(controlID, code, text string) []byte {
	var b bytes.Buffer
	_ = hl7.WriteFrame(&b, []byte(fmt.Sprintf("MSH|^~\\&|EHR|CLINIC|CHAIRSIDE|CLINIC|20261204101600||ACK^R01^ACK|A-%s|P|2.6\rMSA|%s|%s|%s\r",
		hl7.Escape(controlID), code, hl7.Escape(controlID), hl7.Escape(text))))
	return b.Bytes()
}
