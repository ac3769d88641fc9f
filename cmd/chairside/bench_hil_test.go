package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/nonin"
	"github.com/chairside/chairside/drivers/serialport/serialtest"
	"github.com/chairside/chairside/drivers/suntech"
)

// BenchmarkHILDaemon measures the real daemon (built without -race) on a
// Nonin stream at full rate (DF2, 75 frames/s) and a SunTech module, with a
// real broker: the alarm latency from the last byte of the frame that carries
// the crossing SpO2 to the alarm's arrival at a subscriber (the limit has no
// condition delay, so this is the whole system delay); then, in a second run
// with a steady stream, the daemon's CPU and RSS and the bytes and
// transactions its store writes.
//
//	go test -run '^$' -bench HILDaemon -benchtime 1x ./cmd/chairside/
func BenchmarkHILDaemon(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "chairside")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	br := startBroker(b)
	rec := subscribe(b, br)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	oxi, cuff := serialtest.New(b), serialtest.New(b)
	serialtest.Link(b, filepath.Join(dir, "nonin"), oxi.Name)
	serialtest.Link(b, filepath.Join(dir, "suntech"), cuff.Name)
	m := suntech.NewModule(cuff.Master, nil)
	go m.Run(ctx)

	// The Nonin stream is written here, frame by frame, so the time the
	// crossing frame's last byte leaves is known exactly.
	spo2 := make(chan int16, 1)
	crossed := make(chan time.Time, 1)
	go func() {
		enc, _ := nonin.NewEncoder(nonin.DF2)
		st := nonin.Steady(97, 72)
		tick := time.NewTicker(time.Second / 75)
		defer tick.Stop()
		var frame []byte
		armed := false
		for {
			select {
			case <-ctx.Done():
				return
			case v := <-spo2:
				st = nonin.Steady(v, 72)
				armed = v < 88
			case <-tick.C:
			}
			idx := enc.Index()
			frame = enc.Append(frame[:0], &st)
			if _, err := oxi.Master.Write(frame); err != nil {
				return
			}
			if armed && idx == 2 { // frame 3 carries the SpO2
				armed = false
				crossed <- time.Now()
			}
		}
	}()

	protocol := strings.Replace(hilProtocol, "delay = \"2s\"\nhysteresis = 1\nlatch = true", "delay = \"0s\"\nhysteresis = 1", 1)
	os.WriteFile(filepath.Join(dir, "bench.toml"), []byte(protocol+"\n"), 0o600)
	cfgPath := filepath.Join(dir, "chairside.toml")
	os.WriteFile(cfgPath, []byte(chairConfig("chair-b", "bench.toml", fmt.Sprintf("broker = %q", br.url()), dir)), 0o600)
	logf, _ := os.Create(filepath.Join(dir, "chairside.log"))
	var proc *exec.Cmd
	start := func() {
		proc = exec.Command(bin, "-config", cfgPath)
		proc.Stderr = logf
		if err := proc.Start(); err != nil {
			b.Fatal(err)
		}
	}
	stop := func() {
		_ = proc.Process.Signal(syscall.SIGTERM)
		_ = proc.Wait()
	}
	start()
	defer func() { _ = proc.Process.Kill(); _ = proc.Wait() }()
	rec.waitFor(b, "session", "/session", 20*time.Second, func(v map[string]any) bool { return v["phase"] == "baseline" })

	// Alarm latency: 200 crossings, so that p99 is not just the worst one.
	var lat []time.Duration
	for i := 0; i < 200; i++ {
		mark := rec.count()
		spo2 <- 80
		at := <-crossed
		v := rec.waitForFrom(b, mark, "spo2_low start", "/alarm", 5*time.Second, func(v map[string]any) bool {
			return v["condition"] == "spo2_low" && v["phase"] == "start"
		})
		lat = append(lat, v.at.Sub(at))
		spo2 <- 97
		rec.waitForFrom(b, mark, "spo2_low end", "/alarm", 5*time.Second, func(v map[string]any) bool {
			return v["condition"] == "spo2_low" && v["phase"] == "end"
		})
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, p99 := lat[rank(len(lat), 50)], lat[rank(len(lat), 99)]
	b.ReportMetric(float64(p50.Microseconds())/1000, "alarm-p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "alarm-p99-ms")

	// CPU, memory and store writes at full rate: a fresh start (the store
	// counts from each Open), 5 s to settle, then 60 s of steady streaming.
	stop()
	logf.Truncate(0)
	logf.Seek(0, 0)
	start()
	time.Sleep(5 * time.Second)
	pid := proc.Process.Pid
	cpu0, sw0, wall0 := cpuTicks(b, pid), contextSwitches(pid), time.Now()
	time.Sleep(60 * time.Second)
	cpu1, sw1, wall1 := cpuTicks(b, pid), contextSwitches(pid), time.Now()
	hz := 100.0 // USER_HZ on Linux
	secs := wall1.Sub(wall0).Seconds()
	b.ReportMetric((float64(cpu1-cpu0)/hz)/secs*100, "cpu-%")
	// CPU time on a virtual machine is mostly the cost of waking threads,
	// which varies with the host; the number of wake-ups does not.
	b.ReportMetric(float64(sw1-sw0)/secs, "ctxsw/s")
	b.ReportMetric(float64(rssKB(b, pid))/1024, "rss-MB")
	stop()
	logText, _ := os.ReadFile(filepath.Join(dir, "chairside.log"))
	if w, commits, up := storeBytes(string(logText)); up > 0 {
		b.ReportMetric(w/up.Hours()/1e6, "store-MB/h")
		b.ReportMetric(commits/up.Seconds(), "store-commits/s")
	}
}

// rank is the index of the p-th percentile of n sorted samples (nearest rank).
func rank(n, p int) int { return max((n*p+99)/100-1, 0) }

func cpuTicks(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// contextSwitches sums the voluntary and involuntary context switches of
// all the process's threads.
func contextSwitches(pid int) int64 {
	var n int64
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, t := range tasks {
		raw, _ := os.ReadFile(t)
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.HasSuffix(strings.SplitN(l, ":", 2)[0], "ctxt_switches") {
				v, _ := strconv.ParseInt(strings.TrimSpace(strings.SplitN(l, ":", 2)[1]), 10, 64)
				n += v
			}
		}
	}
	return n
}

func rssKB(b *testing.B, pid int) int64 {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return n
		}
	}
	return 0
}

// storeBytes reads the daemon's closing "store stats" log line: bytes
// written to the store file and how long it ran.
func storeBytes(log string) (bytes, commits float64, up time.Duration) {
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, `"msg":"store stats"`) {
			continue
		}
		var v struct {
			Written float64 `json:"bytes_written"`
			Commits float64 `json:"commits"`
			Up      float64 `json:"uptime_s"`
		}
		if json.Unmarshal([]byte(l), &v) == nil {
			return v.Written, v.Commits, time.Duration(v.Up * float64(time.Second))
		}
	}
	return 0, 0, 0
}
