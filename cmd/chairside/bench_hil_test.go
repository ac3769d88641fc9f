package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
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
	"github.com/chairside/chairside/internal/childproc"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/wire"
)

// BenchmarkHILDaemon measures the real daemon (built without -race) on a
// Nonin stream at full rate (DF2, 75 frames/s) and a SunTech module, with a
// real broker: the alarm latency from the last byte of the frame that makes
// the decoder emit the crossing SpO2 (the SYNC frame closing the packet that
// carries it, some 300 ms after its SpO2 frame) to the alarm's arrival at a
// subscriber (the limit has no condition delay, so this is the whole system
// delay after the decoder); then, in a second run
// with a steady stream, the daemon's CPU and RSS and the bytes and
// transactions its store writes.
//
//	go test -run '^$' -bench HILDaemon -benchtime 1x ./cmd/chairside/
func BenchmarkHILDaemon(b *testing.B) {
	r := newBenchRig(b)
	r.start()
	r.rec.waitFor(b, "session", "/session", 20*time.Second, func(v map[string]any) bool { return v["phase"] == "baseline" })
	r.reportLatency(r.crossings(200), "alarm")

	// CPU, memory and store writes at full rate: a fresh start (the store
	// counts from each Open), 5 s to settle, then 60 s of steady streaming.
	r.stop()
	r.logf.Truncate(0)
	r.logf.Seek(0, 0)
	r.start()
	// DESIGN.md's reference, a Python script reading the same stream, in
	// the same window: CPU time on a virtual machine varies with the host.
	py := r.startReference()
	time.Sleep(5 * time.Second)
	pid := r.proc.Process.Pid
	d0, p0 := sampleUsage(b, pid), sampleUsage(b, py)
	time.Sleep(60 * time.Second)
	d1, p1 := sampleUsage(b, pid), sampleUsage(b, py)
	cpu := d1.cpuPercent(d0)
	b.ReportMetric(cpu, "cpu-%")
	// CPU time on a virtual machine is mostly the cost of waking threads,
	// which varies with the host; the number of wake-ups does not.
	b.ReportMetric(d1.switchesPerSec(d0), "ctxsw/s")
	b.ReportMetric(float64(rssKB(b, pid))/1024, "rss-MB")
	if py != 0 {
		b.ReportMetric(p1.cpuPercent(p0), "python-cpu-%")
		b.ReportMetric(p1.switchesPerSec(p0), "python-ctxsw/s")
		b.ReportMetric(float64(rssKB(b, py))/1024, "python-rss-MB")
		b.ReportMetric(cpu/p1.cpuPercent(p0)*100, "cpu-%-of-python")
	}
	r.stop()
	logText, _ := os.ReadFile(filepath.Join(r.dir, "chairside.log"))
	if w, commits, up := storeBytes(string(logText)); up > 0 {
		b.ReportMetric(w/up.Hours()/1e6, "store-MB/h")
		b.ReportMetric(commits/up.Seconds(), "store-commits/s")
	}
}

// BenchmarkHILDrain measures the alarm latency while the daemon sends a
// backlog (drainRecords vitals records, about 14 hours of a chair's 2 vitals
// a second: a broker that was away that long), and how fast the backlog
// goes: live messages go first (CONTRACT §6), so an alarm must not wait for
// it.
//
//	go test -run '^$' -bench HILDrain -benchtime 1x ./cmd/chairside/
func BenchmarkHILDrain(b *testing.B) {
	const drainRecords, drainLimit = 100000, 5 * time.Minute
	r := newBenchRig(b)
	st, err := store.Open(filepath.Join(r.dir, "store"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < drainRecords; i++ {
		v := wire.Vital{Record: wire.Record{V: wire.Version}, T: wire.At(time.Now().Add(-3 * time.Hour)), Session: "backlog",
			Param: "spo2", Value: wire.N(97), Unit: "%", Source: "nonin", Flags: []string{}}
		if _, err := st.Commit("chairside/chair-b/"+wire.TopicSpO2, &v, true, false); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	// The backlog's distinct seqs the subscriber has (a record may come
	// twice, CONTRACT §6), counted as messages arrive.
	seen, cursor := map[float64]bool{}, 0
	backlog := func() int {
		n := r.rec.count()
		for _, m := range r.rec.since(cursor) {
			if m.v["session"] == "backlog" {
				seen[m.v["seq"].(float64)] = true
			}
		}
		cursor = n
		return len(seen)
	}
	t0 := time.Now()
	r.start()
	// The alarm needs a session: the new one starts after auto_start_after.
	r.rec.waitFor(b, "session", "/session", 20*time.Second, func(v map[string]any) bool { return v["phase"] == "baseline" })
	// Crossings for as long as the backlog lasts.
	var lat []time.Duration
	for backlog() < drainRecords && time.Since(t0) < drainLimit {
		lat = append(lat, r.crossings(3)...)
	}
	drained := time.Since(t0)
	if n := backlog(); n < drainRecords {
		b.Fatalf("%d of %d backlog records arrived in %v", n, drainRecords, drained)
	}
	b.ReportMetric(drained.Seconds(), "drain-s")
	b.ReportMetric(drainRecords/drained.Seconds(), "drain-records/s")
	b.ReportMetric(float64(len(lat)), "crossings")
	r.reportLatency(lat, "alarm")
	r.stop()
}

// benchRig is the daemon under measurement: its binary, a real broker and a
// subscriber, a SunTech module model and a Nonin stream written here, frame
// by frame, so that the time the crossing frame's last byte leaves is known
// exactly.
type benchRig struct {
	b       *testing.B
	dir     string
	bin     string
	cfgPath string
	rec     *recorder
	logf    *os.File
	proc    *exec.Cmd
	spo2    chan int16     // the SpO2 the stream carries from the next packet
	crossed chan time.Time // when the frame with a crossing SpO2 left
	broker  *testBroker
	ref     string // the pty the Python reference reads the same stream from
}

func newBenchRig(b *testing.B) *benchRig {
	r := &benchRig{b: b, dir: b.TempDir(), spo2: make(chan int16, 1), crossed: make(chan time.Time, 1)}
	r.bin = filepath.Join(r.dir, "chairside")
	if out, err := exec.Command("go", "build", "-o", r.bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	br := startBroker(b)
	r.broker = br
	r.rec = subscribe(b, br)

	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	oxi, cuff, ref := serialtest.New(b), serialtest.New(b), serialtest.New(b)
	r.ref = ref.Name
	serialtest.Link(b, filepath.Join(r.dir, "nonin"), oxi.Name)
	serialtest.Link(b, filepath.Join(r.dir, "suntech"), cuff.Name)
	m := suntech.NewModule(cuff.Master, nil)
	go m.Run(ctx)
	refFrames := make(chan []byte, 75)
	go func() {
		for f := range refFrames {
			if _, err := ref.Master.Write(f); err != nil {
				return
			}
		}
	}()
	go func() {
		defer close(refFrames)
		enc, _ := nonin.NewEncoder(nonin.DF2)
		st := nonin.Steady(97, 72)
		tick := time.NewTicker(time.Second / 75)
		defer tick.Stop()
		var frame []byte
		armed, closing := false, false
		for {
			select {
			case <-ctx.Done():
				return
			case v := <-r.spo2:
				st = nonin.Steady(v, 72)
				armed = v < 88
			case <-tick.C:
			}
			idx := enc.Index()
			frame = enc.Append(frame[:0], &st)
			if _, err := oxi.Master.Write(frame); err != nil {
				return
			}
			select { // the reference may not be reading: never wait for it
			case refFrames <- append([]byte(nil), frame...):
			default:
			}
			// Frame 3 (index 2) carries the SpO2; the decoder emits it
			// when the next SYNC frame shows its packet was whole.
			switch {
			case armed && idx == 2:
				armed, closing = false, true
			case closing && idx == 0:
				closing = false
				r.crossed <- time.Now()
			}
		}
	}()

	// The limit has no condition delay, so the latency is the whole
	// system's.
	protocol := strings.Replace(hilProtocol, "delay = \"2s\"\nhysteresis = 1\nlatch = true", "delay = \"0s\"\nhysteresis = 1", 1)
	os.WriteFile(filepath.Join(r.dir, "bench.toml"), []byte(protocol+"\n"), 0o600)
	r.cfgPath = filepath.Join(r.dir, "chairside.toml")
	os.WriteFile(r.cfgPath, []byte(chairConfig("chair-b", "bench.toml", fmt.Sprintf("broker = %q", br.url()), r.dir)), 0o600)
	r.logf, _ = os.Create(filepath.Join(r.dir, "chairside.log"))
	b.Cleanup(func() {
		if r.proc != nil && r.proc.ProcessState == nil {
			_ = r.proc.Process.Kill()
			_ = r.proc.Wait()
		}
	})
	return r
}

func (r *benchRig) start() {
	r.proc = exec.Command(r.bin, "-config", r.cfgPath)
	childproc.DieWithParent(r.proc, syscall.SIGKILL)
	r.proc.Stderr = r.logf
	if err := r.proc.Start(); err != nil {
		r.b.Fatal(err)
	}
}

func (r *benchRig) stop() {
	_ = r.proc.Process.Signal(syscall.SIGTERM)
	_ = r.proc.Wait()
}

// crossings takes SpO2 under the limit and back n times and returns each
// alarm start's latency from the crossing frame's last byte to the
// subscriber.
func (r *benchRig) crossings(n int) []time.Duration {
	var lat []time.Duration
	for i := 0; i < n; i++ {
		mark := r.rec.count()
		r.spo2 <- 80
		at := <-r.crossed
		v := r.rec.waitForFrom(r.b, mark, "spo2_low start", "/alarm", 5*time.Second, func(v map[string]any) bool {
			return v["condition"] == "spo2_low" && v["phase"] == "start"
		})
		lat = append(lat, v.at.Sub(at))
		r.spo2 <- 97
		r.rec.waitForFrom(r.b, mark, "spo2_low end", "/alarm", 5*time.Second, func(v map[string]any) bool {
			return v["condition"] == "spo2_low" && v["phase"] == "end"
		})
	}
	return lat
}

// reportLatency reports the p50 and p99 of lat as name-p50-ms, name-p99-ms.
func (r *benchRig) reportLatency(lat []time.Duration, name string) {
	if len(lat) == 0 {
		r.b.Fatal("no latencies measured")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r.b.ReportMetric(float64(lat[rank(len(lat), 50)].Microseconds())/1000, name+"-p50-ms")
	r.b.ReportMetric(float64(lat[rank(len(lat), 99)].Microseconds())/1000, name+"-p99-ms")
}

// rank is the index of the p-th percentile of n sorted samples (nearest rank).
func rank(n, p int) int { return max((n*p+99)/100-1, 0) }

// startReference starts testdata/reference.py on the rig's reference pty and
// returns its pid, or 0 (and says so) when no python3 has pyserial and
// paho-mqtt.
func (r *benchRig) startReference() int {
	// Debian's python3 has the packages; another one may come first in PATH.
	python := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import serial, paho.mqtt.client").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		r.b.Log("no Python reference: python3 with pyserial and paho-mqtt not found (apt-get install python3-serial python3-paho-mqtt)")
		return 0
	}
	u, err := url.Parse(r.broker.url())
	if err != nil {
		r.b.Fatal(err)
	}
	cmd := exec.Command(python, "testdata/reference.py", r.ref, u.Hostname(), u.Port(), "reference/chair-py/vitals")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		r.b.Fatal(err)
	}
	r.b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}

// usage is a process's CPU time and context switches at one moment.
type usage struct {
	at       time.Time
	cpu      time.Duration
	switches int64
}

// sampleUsage reads pid's usage; pid 0 is no process.
func sampleUsage(b *testing.B, pid int) usage {
	if pid == 0 {
		return usage{}
	}
	return usage{at: time.Now(), cpu: cpuTime(b, pid), switches: contextSwitches(pid)}
}

// cpuPercent is the share of one core used between u0 and u.
func (u usage) cpuPercent(u0 usage) float64 {
	return (u.cpu - u0.cpu).Seconds() / u.at.Sub(u0.at).Seconds() * 100
}

func (u usage) switchesPerSec(u0 usage) float64 {
	return float64(u.switches-u0.switches) / u.at.Sub(u0.at).Seconds()
}

// cpuTime sums the time all of pid's threads have run (schedstat counts
// nanoseconds; the tick-sampled utime and stime of /proc/PID/stat would be
// a few dozen ticks a minute at this load, too coarse to compare).
func cpuTime(b *testing.B, pid int) time.Duration {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		b.Fatalf("no threads of %d: %v", pid, err)
	}
	var sum time.Duration
	for _, t := range tasks {
		raw, _ := os.ReadFile(t) // a thread may have ended meanwhile
		if f := strings.Fields(string(raw)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			sum += time.Duration(ns)
		}
	}
	return sum
}

// contextSwitches sums the voluntary and involuntary context switches of
// all the process's threads.
func contextSwitches(pid int) int64 {
	var n int64
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, t := range tasks {
		raw, _ := os.ReadFile(t)
		for _, l := range strings.Split(string(raw), "\n") {
			if key, val, _ := strings.Cut(l, ":"); strings.HasSuffix(key, "ctxt_switches") {
				v, _ := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
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
