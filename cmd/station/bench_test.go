package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/chairside/chairside/internal/childproc"
	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
	"github.com/chairside/chairside/monitor/station/page/pagetest"
	"github.com/chairside/chairside/monitor/wire"
)

// cpuTicks reads a process's user+system time in clock ticks (1/100 s).
func cpuTicks(b *testing.B, pid int) float64 {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(s[strings.LastIndexByte(string(s), ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return u + st
}

func ioBytes(pid int, key string) float64 {
	s, _ := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	for _, l := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(l, key+": "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	return 0
}

func statusKB(pid int, key string) int {
	s, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(s), "\n") {
		if strings.HasPrefix(l, key+":") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return 0
}

// BenchmarkStationMosquitto500 runs the real station binary against a real
// mosquitto with 500 simulated chairs at 1 Hz (SpO2 and pulse each second,
// the heartbeat every 10 s, an alarm starting or ending on one chair in 20
// every 10 s) and 5 open event streams, for STATION_BENCH_SECONDS (default
// 30) after 5 s of warm-up. It reports the station's CPU (% of one core)
// and mosquitto's in the same window as the reference, the station's RSS,
// and the latency from publishing a chair's alarms list to its arrival on
// each event stream (p50, p99). Run: go test -run '^$' -bench StationMosquitto500 -benchtime 1x ./cmd/station
func BenchmarkStationMosquitto500(b *testing.B) { stationBench(b, false) }

// BenchmarkStationAlarmToDOM500 is BenchmarkStationMosquitto500 with the 5
// pages real: 5 tabs of Debian's chromium showing the station page, each
// stamping (its own MutationObserver, the machine's clock) the moment an
// alarm first appears in its alarm list; the latency is from the chair's
// alarm publication to that DOM change (DESIGN budget p99 < 100 ms). Run:
// go test -run '^$' -bench StationAlarmToDOM500 -benchtime 1x ./cmd/station
func BenchmarkStationAlarmToDOM500(b *testing.B) { stationBench(b, true) }

// domStamp records, in a page, when each alarm id first appears in the
// alarm list (epoch ms).
const domStamp = `(() => { window.__seen = {}; const list = document.getElementById("alarm-list");
	new MutationObserver((recs) => { const at = performance.timeOrigin + performance.now();
		for (const r of recs) for (const n of r.addedNodes) { const id = n.dataset && n.dataset.alarm;
			if (id && !(id in window.__seen)) window.__seen[id] = at; } }).observe(list, { childList: true, subtree: true });
	return true; })()`

func stationBench(b *testing.B, browser bool) {
	const chairs = 500
	secs, pages := 30, 5
	if v, err := strconv.Atoi(os.Getenv("STATION_BENCH_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	if v, err := strconv.Atoi(os.Getenv("STATION_BENCH_PAGES")); err == nil && v > 0 {
		pages = v
	}
	m := brokertest.StartMosquitto(b)
	dir := b.TempDir()
	bin := filepath.Join(dir, "station")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	port := brokertest.FreePorts(b, 1)[0]
	cfg := filepath.Join(dir, "station.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("name = \"bench\"\nlisten = \"127.0.0.1:%d\"\nstore_dir = \"store\"\nusers_file = \"users\"\n[mqtt]\nbroker = %q\n", port, m.PlainURL())), 0o600)
	cmd := exec.Command(bin, "-config", cfg)
	childproc.DieWithParent(cmd, syscall.SIGKILL)
	cmd.Env = append(os.Environ(), "CHAIRSIDE_LOG=warn")
	logf, _ := os.Create(filepath.Join(dir, "station.log"))
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "station.log"))
			b.Fatalf("station not connected:\n%s", log)
		}
	}

	// Publishers: 10 connections, 50 chairs each.
	var pubs []paho.Client
	for i := range 10 {
		c := paho.NewClient(paho.NewClientOptions().AddBroker(m.PlainURL()).SetClientID(fmt.Sprintf("sim-%d", i)).SetMaxResumePubInFlight(1000))
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			b.Fatal(tok.Error())
		}
		defer c.Disconnect(100)
		pubs = append(pubs, c)
	}
	var sentMu sync.Mutex
	sentAt := map[string]time.Time{} // alarm id -> when its alarms list was published
	var lat []time.Duration
	var latMu sync.Mutex
	var tabs []*pagetest.Browser
	if browser {
		nurse := pagetest.New(b)
		for i := range pages {
			tab := nurse
			if i > 0 {
				tab = nurse.Tab(false)
			}
			tab.Do(chromedp.Navigate(base + "/"))
			tabs = append(tabs, tab)
		}
	}
	for range pages {
		if browser {
			break // the tabs are the pages
		}
		res, err := http.Get(base + "/api/events")
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		go func() {
			seen := map[string]bool{}
			sc := bufio.NewScanner(res.Body)
			sc.Buffer(nil, 4<<20)
			for sc.Scan() {
				line := sc.Bytes()
				now := time.Now()
				for rest := line; ; {
					i := strings.Index(string(rest), `"id":"a-`)
					if i < 0 {
						break
					}
					rest = rest[i+6:]
					id := string(rest[:strings.IndexByte(string(rest), '"')])
					if seen[id] {
						continue
					}
					sentMu.Lock()
					at, ok := sentAt[id]
					sentMu.Unlock()
					if ok {
						seen[id] = true
						latMu.Lock()
						lat = append(lat, now.Sub(at))
						latMu.Unlock()
					}
				}
			}
		}()
	}

	seq := make([]int, chairs)
	// Each second's messages are spread over it, 10 chairs every 20 ms, as
	// independent chairs would send them (not one burst of 1 000).
	step := time.NewTicker(20 * time.Millisecond)
	defer step.Stop()
	second := func(sec int) {
		t := time.Now()
		ts := t.UTC().Format(wire.TimeLayout)
		for i := range chairs {
			if i > 0 && i%10 == 0 {
				<-step.C
			}
			c := pubs[i%len(pubs)]
			root := "chairside/chair-" + strconv.Itoa(i) + "/"
			if sec%10 == i%10 {
				c.Publish(root+"state", 1, true, fmt.Sprintf(`{"v":1,"online":true,"boot":1,"stream":"s%d","version":"v","t":"%s","clock_synced":true,"session":"s-1","phase":"infusion"}`, i, ts))
			}
			for _, p := range [][2]string{{"spo2", "%"}, {"pulse", "/min"}} {
				seq[i]++
				c.Publish(root+"vitals/"+p[0], 1, false, fmt.Sprintf(`{"v":1,"stream":"s%d","seq":%d,"boot":1,"clock_synced":true,"t":"%s","session":"s-1","param":"%s","value":%d,"unit":"%s","source":"nonin","flags":[]}`, i, seq[i], ts, p[0], 90+(sec+i)%10, p[1]))
			}
			if i%20 == sec%20 && sec%10 < 2 { // alarms spread over the seconds
				id := fmt.Sprintf("a-%d-%d", i, sec)
				seq[i]++
				list := `[{"v":1,"t":"` + ts + `","id":"` + id + `","condition":"spo2_low","kind":"physiological","priority":"high","phase":"start","state":"active","condition_active":true,"value":86,"limit":88,"message":"SpO2 86 < 88","acked_by":null,"audio":"on"}]`
				c.Publish(root+"alarm", 1, false, fmt.Sprintf(`{"v":1,"stream":"s%d","seq":%d,"boot":1,"clock_synced":true,"t":"%s","session":"s-1","id":"%s","condition":"spo2_low","kind":"physiological","priority":"high","phase":"start","state":"active","condition_active":true,"value":86,"limit":88,"message":"SpO2 86 < 88","acked_by":null,"audio":"on"}`, i, seq[i], ts, id))
				sentMu.Lock()
				sentAt[id] = time.Now()
				sentMu.Unlock()
				c.Publish(root+"alarms", 1, true, `{"v":1,"t":"`+ts+`","audio_paused_until":null,"alarms":`+list+`}`)
			}
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	sec := 0
	for ; sec < 5; sec++ { // warm-up: every chair known, streams open
		second(sec)
		<-tick.C
	}
	for _, tab := range tabs {
		tab.Wait("500 tiles", fmt.Sprintf(`document.querySelectorAll("#grid [data-chair]").length === %d`, chairs), 30*time.Second)
		pagetest.Eval[bool](tab, domStamp)
	}
	warmEnd := time.Now()
	latMu.Lock()
	lat = lat[:0]
	latMu.Unlock()
	c0, m0, t0 := cpuTicks(b, cmd.Process.Pid), cpuTicks(b, m.PID()), time.Now()
	w0 := ioBytes(cmd.Process.Pid, "write_bytes")
	b.ResetTimer()
	for end := sec + secs; sec < end; sec++ {
		second(sec)
		<-tick.C
	}
	b.StopTimer()
	wall := time.Since(t0).Seconds()
	for _, tab := range tabs {
		seen := pagetest.Eval[map[string]float64](tab, `window.__seen`)
		sentMu.Lock()
		for id, ms := range seen {
			if at, ok := sentAt[id]; ok && at.After(warmEnd) {
				lat = append(lat, time.UnixMicro(int64(ms*1000)).Sub(at))
			}
		}
		sentMu.Unlock()
	}
	c1, m1 := cpuTicks(b, cmd.Process.Pid), cpuTicks(b, m.PID())
	stationCPU := (c1 - c0) / wall // ticks are 1/100 s: this is % of one core
	brokerCPU := (m1 - m0) / wall
	latMu.Lock()
	ls := slices.Clone(lat)
	latMu.Unlock()
	slices.Sort(ls)
	if len(ls) == 0 {
		b.Fatal("no alarm reached an event stream")
	}
	p := func(q float64) float64 { return float64(ls[int(q*float64(len(ls)-1))].Microseconds()) / 1000 }
	b.ReportMetric(stationCPU, "station-%cpu")
	b.ReportMetric(brokerCPU, "mosquitto-%cpu")
	b.ReportMetric(stationCPU/brokerCPU, "station/mosquitto")
	b.ReportMetric(float64(statusKB(cmd.Process.Pid, "VmRSS"))/1024, "station-RSS-MB")
	b.ReportMetric(float64(statusKB(cmd.Process.Pid, "VmHWM"))/1024, "station-peakRSS-MB")
	to := "SSE"
	if browser {
		to = "DOM"
	}
	b.ReportMetric(p(0.5), "alarm-to-"+to+"-p50-ms")
	b.ReportMetric(p(0.99), "alarm-to-"+to+"-p99-ms")
	b.ReportMetric(float64(len(ls)), "alarm-samples")
	// What the station writes to its store's disk per hour (wear), from
	// the kernel's count; the file itself grows in large steps (bbolt).
	b.ReportMetric((ioBytes(cmd.Process.Pid, "write_bytes")-w0)/wall*3600/1e6, "disk-write-MB/h")
	if res, err := http.Get(base + "/api/chairs"); err == nil {
		res.Body.Close()
	}
	b.Logf("%d s, %d chairs, %d pages: station %.2f %% CPU, mosquitto %.2f %%, RSS %.1f MB; alarm->%s p50 %.1f ms p99 %.1f ms max %.1f ms (%d samples)",
		secs, chairs, pages, stationCPU, brokerCPU, float64(statusKB(cmd.Process.Pid, "VmRSS"))/1024, to, p(0.5), p(0.99), p(1), len(ls))
}
