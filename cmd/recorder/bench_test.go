package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/hl7/hl7test"
)

// BenchmarkDrain: the recorder binary drains a backlog the broker queued
// while it was stopped (the budget's "an hour of 500 chairs drained without
// loss", scaled down to 100 000 records from 10 chairs), into SQLite and
// into PostgreSQL, through mosquitto configured with the shipped
// recorder.conf. It reports records per second from the recorder's start
// to the last record stored, the recorder's CPU seconds and its peak RSS.
//
//	go test -run '^$' -bench BenchmarkDrain -benchtime 1x ./cmd/recorder
func BenchmarkDrain(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			for range b.N {
				drain(b, backend, 10, 10000)
			}
		})
	}
}

// BenchmarkDrainForwarding: the same backlog with HL7 forwarding on, to
// an MLLP receiver answering AA: records per second stored, and the
// seconds until every minute's message (but each chair's last, which waits
// for minute_wait) was acknowledged.
//
//	go test -run '^$' -bench BenchmarkDrainForwarding -benchtime 1x ./cmd/recorder
func BenchmarkDrainForwarding(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			for range b.N {
				r := hl7test.Start(b, hl7test.AA)
				drain(b, backend, 10, 10000, r)
			}
		})
	}
}

func drain(b *testing.B, backend string, chairs, per int, receiver ...*hl7test.Receiver) {
	dsn := "sqlite:" + filepath.Join(b.TempDir(), "records.db")
	if backend == "postgres" {
		dsn = postgresURL(b)
	}
	m := broker(b)
	cfg := writeConfig(b, "bench", dsn, m.PlainURL(), "")
	if len(receiver) > 0 {
		cfg = writeHL7Config(b, "bench", dsn, m.PlainURL(), "", receiver[0].Target())
	}
	log := &syncBuffer{}
	rec := startRecorder(b, cfg, log)
	pub := link(b, m.PlainURL(), "chairside-bench-probe")
	waitState(b, pub, dsn, "probe", log.String)
	rec.term(b)

	var wg sync.WaitGroup
	for i := range chairs {
		c := fakeChair{fmt.Sprintf("chair-%02d", i), fmt.Sprintf("st%02d", i), per}
		l := link(b, m.PlainURL(), "chairside-"+c.name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(l, 500, 0, rand.New(rand.NewPCG(uint64(i), 1)))
		}()
	}
	wg.Wait()
	total := int64(chairs * per)

	b.ResetTimer()
	start := time.Now()
	rec = startRecorder(b, cfg, log)
	waitRecords(b, dsn, total, 10*time.Minute, log.String)
	elapsed := time.Since(start)
	if len(receiver) > 0 {
		// fakeChair's records are a second apart from 08:00: per/60 minutes
		// a chair, the last one waiting for minute_wait.
		want := chairs * ((per+59)/60 - 1)
		deadline := time.Now().Add(10 * time.Minute)
		for len(receiver[0].Got()) < want && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := len(receiver[0].Got()); n < want {
			b.Fatalf("receiver got %d messages, want %d\n%s", n, want, log.String())
		}
		b.ReportMetric(time.Since(start).Seconds(), "s_to_forwarded")
		b.ReportMetric(float64(want), "hl7_msgs")
	}
	b.StopTimer()
	cpu, rss := procUsage(rec.cmd.Process.Pid)
	rec.term(b)
	b.ReportMetric(float64(total)/elapsed.Seconds(), "records/s")
	b.ReportMetric(cpu.Seconds(), "cpu_s")
	b.ReportMetric(float64(rss)/(1<<20), "peak_rss_MB")
}

// procUsage reads a process's CPU time (user+system) and peak RSS.
func procUsage(pid int) (time.Duration, int64) {
	var cpu time.Duration
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 {
			f := strings.Fields(s[i+2:])
			if len(f) > 12 {
				u, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				cpu = time.Duration(u+st) * (time.Second / 100) // USER_HZ
			}
		}
	}
	var rss int64
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				rss = kb << 10
			}
		}
	}
	return cpu, rss
}
