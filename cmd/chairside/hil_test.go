package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/chairside/chairside/drivers/nonin"
	"github.com/chairside/chairside/drivers/serialport/serialtest"
	"github.com/chairside/chairside/drivers/suntech"
	"github.com/chairside/chairside/internal/childproc"
	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
	"github.com/chairside/chairside/monitor/mqttlink/embedded"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/wire"
)

// These tests run the real chairside binary beside a real broker (mosquitto
// when installed, else the embedded one), with emulated sensors on
// pseudo-terminals that the daemon opens as it would /dev/ttyUSB0, and check
// what a records system subscribed to the broker receives.

// testBroker is a broker on 127.0.0.1 that a test can stop and start again:
// mosquitto when installed (Debian's), else the embedded one, loudly.
type testBroker struct {
	t     testing.TB
	mq    *brokertest.Mosquitto
	addr  string
	mochi *embedded.Broker
}

func startBroker(t testing.TB) *testBroker {
	b := &testBroker{t: t}
	if brokertest.HaveMosquitto() {
		b.mq = brokertest.StartMosquitto(t)
		return b
	}
	if brokertest.Required("mosquitto") {
		t.Fatal("CHAIRSIDE_REQUIRE names mosquitto but it is not installed (apt-get install mosquitto)")
	}
	t.Log("LOUD: mosquitto is not installed; using the embedded broker")
	b.addr = fmt.Sprintf("127.0.0.1:%d", brokertest.FreePorts(t, 1)[0])
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *testBroker) start() {
	if b.mq != nil {
		b.mq.Start()
		return
	}
	s, err := embedded.Start(embedded.Options{Address: b.addr, RetryFor: 5 * time.Second})
	if err != nil {
		b.t.Fatal(err)
	}
	b.mochi = s
}

// stop kills the broker: its clients get no goodbye.
func (b *testBroker) stop() {
	if b.mq != nil {
		b.mq.Kill()
		return
	}
	if b.mochi != nil {
		if err := b.mochi.Close(); err != nil {
			b.t.Error(err)
		}
		b.mochi = nil
	}
}

func (b *testBroker) url() string {
	if b.mq != nil {
		return b.mq.PlainURL()
	}
	return "tcp://" + b.addr
}

// recorder subscribes to everything as a records system would.
type recorder struct {
	mu   sync.Mutex
	msgs []paho.Message
	at   []time.Time // arrival of each message
	c    paho.Client
}

// received is a decoded message and when it arrived.
type received struct {
	v  map[string]any
	at time.Time
}

func subscribe(t testing.TB, b *testBroker) *recorder {
	return subscribeAs(t, b.url(), "records-test", "", "")
}

// subscribeAs subscribes to chairside/# as user (none when empty).
func subscribeAs(t testing.TB, url, clientID, user, password string) *recorder {
	r := &recorder{}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetUsername(user).SetPassword(password).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(200 * time.Millisecond).
		SetOrderMatters(false)
	opts.SetOnConnectHandler(func(c paho.Client) {
		c.Subscribe("chairside/#", 1, func(_ paho.Client, m paho.Message) {
			now := time.Now()
			r.mu.Lock()
			r.msgs = append(r.msgs, m)
			r.at = append(r.at, now)
			r.mu.Unlock()
		})
	})
	r.c = paho.NewClient(opts)
	if tok := r.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { r.c.Disconnect(100) })
	time.Sleep(200 * time.Millisecond)
	return r
}

// count is how many messages have arrived so far.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// waitFor waits until a message on a topic ending in suffix satisfies ok.
func (r *recorder) waitFor(t testing.TB, what, suffix string, timeout time.Duration, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	return r.waitForFrom(t, 0, what, suffix, timeout, ok).v
}

// waitForFrom is waitFor looking only at messages after the first from.
func (r *recorder) waitForFrom(t testing.TB, from int, what, suffix string, timeout time.Duration, ok func(map[string]any) bool) received {
	t.Helper()
	deadline := time.Now().Add(timeout)
	seen := from
	for time.Now().Before(deadline) {
		r.mu.Lock()
		msgs, ats := r.msgs[seen:], r.at[seen:]
		seen = len(r.msgs)
		r.mu.Unlock()
		for i, m := range msgs {
			if !strings.HasSuffix(m.Topic(), suffix) {
				continue
			}
			var v map[string]any
			if json.Unmarshal(m.Payload(), &v) == nil && ok(v) {
				return received{v: v, at: ats[i]}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", timeout, what)
	return received{}
}

// msg is a decoded message with its topic.
type msg struct {
	topic string
	v     map[string]any
}

// since decodes the messages after the first from.
func (r *recorder) since(from int) []msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []msg
	for _, m := range r.msgs[from:] {
		var v map[string]any
		if json.Unmarshal(m.Payload(), &v) == nil {
			out = append(out, msg{topic: m.Topic(), v: v})
		}
	}
	return out
}

func (r *recorder) publish(t testing.TB, topic string, payload any) {
	b, _ := json.Marshal(payload)
	if tok := r.c.Publish(topic, 1, false, b); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// records gives the seqs of record-stream messages by stream.
func (r *recorder) records() map[string]map[float64]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]map[float64]int{}
	for _, m := range r.msgs {
		var v struct {
			Stream string  `json:"stream"`
			Seq    float64 `json:"seq"`
		}
		if json.Unmarshal(m.Payload(), &v) != nil || v.Seq == 0 || m.Retained() {
			continue
		}
		if out[v.Stream] == nil {
			out[v.Stream] = map[float64]int{}
		}
		out[v.Stream][v.Seq]++
	}
	return out
}

// bench is a chair: emulated sensors on ptys and the daemon's files.
type bench struct {
	t      *testing.T
	dir    string
	bin    string
	config string
	oxi    *nonin.Device
	cuff   *suntech.Module
	proc   *exec.Cmd
	stderr *os.File
	env    []string // added to the daemon's environment
}

var buildOnce sync.Once
var builtBin, buildErr = "", error(nil)

func buildChairside(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chairside-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "chairside")
		out, err := exec.Command("go", "build", "-race", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

const hilProtocol = `name = "hil"
auto_start_after = "3s"
min_nibp_gap = "10s"
[phase.baseline]
nibp_every = "15s"
[phase.infusion]
duration = "40m"
nibp_every = "15s"
[phase.observation]
duration = "60m"
nibp_every = "15s"
repeat_nibp_after_alarm = "10s"
[[limit]]
condition = "spo2_low"
priority = "high"
below = 88
delay = "2s"
hysteresis = 1
latch = true
[[limit]]
condition = "nibp_systolic_rise"
priority = "medium"
at_least = 40
`

// hilRig starts what most hardware-in-the-loop tests need: a broker, a
// records subscriber and a bench (its daemon not yet started), whose daemon
// log is printed when the test fails.
func hilRig(t *testing.T) (*testBroker, *recorder, *bench) {
	t.Helper()
	if testing.Short() {
		t.Skip("hardware-in-the-loop test")
	}
	b := startBroker(t)
	rec := subscribe(t, b)
	be := newBench(t, b)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chairside log (tail):\n%s", tail(be.log(), 8000))
		}
	})
	return b, rec, be
}

func newBench(t *testing.T, b *testBroker) *bench {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	be := &bench{t: t, dir: t.TempDir(), bin: buildChairside(t)}
	oxiPTY, cuffPTY := serialtest.New(t), serialtest.New(t)
	serialtest.Link(t, filepath.Join(be.dir, "nonin"), oxiPTY.Name)
	serialtest.Link(t, filepath.Join(be.dir, "suntech"), cuffPTY.Name)
	var err error
	be.oxi, err = nonin.NewDevice(nonin.DeviceOpts{Format: nonin.DF2}, nonin.Steady(97, 72))
	if err != nil {
		t.Fatal(err)
	}
	go be.oxi.Run(ctx, oxiPTY.Master)
	be.cuff = suntech.NewModule(cuffPTY.Master, nil)
	be.cuff.Set(suntech.Measurement{Sys: 118, Dia: 76, Map: 90, HR: 72, Duration: 2 * time.Second})
	go be.cuff.Run(ctx)
	be.write("hil.toml", hilProtocol)
	be.configure(fmt.Sprintf("broker = %q\nkeepalive = \"2s\"\n", b.url()))
	return be
}

// write writes a file of the bench's folder and returns its path.
func (be *bench) write(name, text string) string {
	be.t.Helper()
	p := filepath.Join(be.dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		be.t.Fatal(err)
	}
	return p
}

// configure writes the daemon's config with mqtt as its [mqtt] table.
func (be *bench) configure(mqtt string) {
	be.config = be.write("chairside.toml", chairConfig("chair-07", "hil.toml", mqtt, be.dir))
}

// chairConfig is a chair's config: a Nonin and a SunTech on the ptys linked
// in dir, its store in dir/store, no annunciator.
func chairConfig(chair, protocol, mqtt, dir string) string {
	return fmt.Sprintf(`chair = %q
protocol = %q
[mqtt]
%s
[store]
dir = "store"
[[sensor]]
driver = "nonin"
port = %q
[[sensor]]
driver = "suntech"
port = %q
[annunciator]
kind = "none"
`, chair, protocol, mqtt, filepath.Join(dir, "nonin"), filepath.Join(dir, "suntech"))
}

func (be *bench) start() {
	be.t.Helper()
	f, err := os.OpenFile(filepath.Join(be.dir, "chairside.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		be.t.Fatal(err)
	}
	be.stderr = f
	be.proc = exec.Command(be.bin, "-config", be.config)
	// A test killed by its timeout must not leave a daemon reading a pty
	// that a later test gets: it would steal that test's bytes.
	childproc.DieWithParent(be.proc, syscall.SIGKILL)
	be.proc.Stderr = f
	be.proc.Env = append(os.Environ(), be.env...)
	if err := be.proc.Start(); err != nil {
		be.t.Fatal(err)
	}
	be.t.Cleanup(func() {
		if be.proc != nil && be.proc.ProcessState == nil {
			_ = be.proc.Process.Kill()
			_ = be.proc.Wait()
		}
	})
}

// stop sends sig and waits; it returns the exit code and how long it took.
// A daemon still running 10 s later is a failure: it is sent SIGQUIT, so
// its goroutines are in the log the test prints.
func (be *bench) stop(sig syscall.Signal) (int, time.Duration) {
	be.t.Helper()
	start := time.Now()
	_ = be.proc.Process.Signal(sig)
	exited := make(chan struct{})
	go func() { _ = be.proc.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = be.proc.Process.Signal(syscall.SIGQUIT)
		<-exited
		be.proc = nil
		be.t.Fatalf("chairside still running 10 s after %v; its goroutines:\n%s", sig, be.log())
	}
	code := be.proc.ProcessState.ExitCode()
	be.proc = nil
	return code, time.Since(start)
}

func (be *bench) log() string {
	b, _ := os.ReadFile(filepath.Join(be.dir, "chairside.log"))
	return string(b)
}

func cmd(id, action string, extra map[string]any) map[string]any {
	c := map[string]any{"v": 1, "id": id, "t": time.Now().UTC().Format(wire.TimeLayout), "action": action, "by": "nurse@station"}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func num(v any) float64 { f, _ := v.(float64); return f }

// A whole short session on a real broker: auto-start, readings, an SpO2
// alarm acknowledged over cmd, a NIBP rise alarm, a kill -9 and restart that
// resumes the session, a broker outage, and a clean stop; the records system
// sees every seq of the stream exactly once or more, with no gap.
func TestHILSession(t *testing.T) {
	b, rec, be := hilRig(t)
	be.start()
	const root = "chairside/chair-07/"

	online := rec.waitFor(t, "state online", "/state", 10*time.Second, func(v map[string]any) bool { return v["online"] == true })
	// clock_unsynced follows the kernel's own word (adjtimex), which this
	// test reads too: raised and clock_synced false when it is not
	// synchronised (as on most build machines), neither when it is.
	synced, err := clockSynced()
	if err != nil {
		t.Fatal(err)
	}
	if online["clock_synced"] != synced {
		t.Fatalf("state says clock_synced %v, the kernel %v", online["clock_synced"], synced)
	}
	if !synced {
		rec.waitFor(t, "clock_unsynced", "/alarm", 10*time.Second, func(v map[string]any) bool {
			return v["condition"] == "clock_unsynced" && v["phase"] == "start" && v["priority"] == "low"
		})
	}
	sess := rec.waitFor(t, "auto-started session", "/session", 15*time.Second, func(v map[string]any) bool { return v["phase"] == "baseline" })
	sessionID := sess["id"].(string)
	rec.waitFor(t, "SpO2 97 from the Nonin", "/vitals/spo2", 5*time.Second, func(v map[string]any) bool { return num(v["value"]) == 97 })
	rec.waitFor(t, "baseline NIBP 118/76", "/vitals/nibp", 20*time.Second, func(v map[string]any) bool { return num(v["systolic"]) == 118 })

	// Desaturation: the high alarm starts, the station acknowledges it.
	be.oxi.Set(nonin.Steady(85, 72))
	alarm := rec.waitFor(t, "spo2_low high", "/alarm", 10*time.Second, func(v map[string]any) bool {
		return v["condition"] == "spo2_low" && v["phase"] == "start" && v["priority"] == "high"
	})
	rec.publish(t, root+"cmd", cmd("ack-1", "ack", map[string]any{"alarm": alarm["id"]}))
	rec.waitFor(t, "ack reply", "/cmd/reply", 5*time.Second, func(v map[string]any) bool { return v["id"] == "ack-1" && v["ok"] == true })
	rec.waitFor(t, "acknowledged", "/alarm", 5*time.Second, func(v map[string]any) bool {
		return v["id"] == alarm["id"] && v["state"] == "acknowledged" && v["acked_by"] == "nurse@station"
	})
	be.oxi.Set(nonin.Steady(97, 72))

	// Infusion; the blood pressure rises 45 over the baseline.
	rec.publish(t, root+"cmd", cmd("inf-1", "infusion_start", nil))
	rec.waitFor(t, "infusion", "/session", 5*time.Second, func(v map[string]any) bool { return v["phase"] == "infusion" })
	be.cuff.Set(suntech.Measurement{Sys: 163, Dia: 88, Map: 113, HR: 90, Duration: 2 * time.Second})
	rec.waitFor(t, "systolic rise alarm", "/alarm", 30*time.Second, func(v map[string]any) bool {
		return v["condition"] == "nibp_systolic_rise" && v["priority"] == "medium"
	})

	// kill -9 and restart: boot + 1, same session and phase.
	if code, _ := be.stop(syscall.SIGKILL); code == 0 {
		t.Fatal("SIGKILL exited 0?")
	}
	// The broker sends the Will, which was registered at start (phase idle
	// then): it must not say a phase, a session or a time it cannot know.
	will := rec.waitFor(t, "the Will of boot 1", "/state", 10*time.Second, func(v map[string]any) bool { return v["online"] == false && num(v["boot"]) == 1 })
	if will["phase"] != nil || will["session"] != nil || will["t"] != nil {
		t.Fatalf("the Will says what it cannot know: %v", will)
	}
	be.start()
	rec.waitFor(t, "boot 2 online", "/state", 15*time.Second, func(v map[string]any) bool { return v["online"] == true && num(v["boot"]) == 2 })
	rec.waitFor(t, "resumed session", "/session", 10*time.Second, func(v map[string]any) bool {
		return v["id"] == sessionID && v["phase"] == "infusion" && num(v["boot"]) == 2
	})

	// The broker is killed for 32 s: link_down (after 30 s) is raised at the
	// chair, and every record made meanwhile, link_down's alarm among them,
	// arrives after the broker returns.
	from := rec.count()
	b.stop()
	time.Sleep(32 * time.Second)
	b.start()
	rec.waitForFrom(t, from, "vitals after the outage", "/vitals/spo2", 30*time.Second, func(v map[string]any) bool {
		return num(v["boot"]) == 2 && num(v["seq"]) > 0
	})
	down := rec.waitForFrom(t, from, "link_down raised during the outage", "/alarm", 30*time.Second, func(v map[string]any) bool {
		return v["condition"] == "link_down" && v["phase"] == "start" && v["priority"] == "low"
	}).v
	rec.waitForFrom(t, from, "link_down ended after it", "/alarm", 30*time.Second, func(v map[string]any) bool {
		return v["id"] == down["id"] && v["phase"] == "end"
	})
	time.Sleep(3 * time.Second) // the backlog drains

	code, took := be.stop(syscall.SIGTERM)
	if code != 0 || took > 5*time.Second {
		t.Fatalf("SIGTERM: exit %d after %v (want 0 within 5 s)", code, took)
	}
	rec.waitFor(t, "state offline", "/state", 5*time.Second, func(v map[string]any) bool { return v["online"] == false })

	// The alarm log survives the restarts: who acknowledged, who started the infusion.
	out, err := exec.Command(be.bin, "-alarm-log", "-config", be.config).CombinedOutput()
	if err != nil {
		t.Fatalf("-alarm-log: %v\n%s", err, out)
	}
	for _, want := range []string{"nurse@station\tack\tok\tack id=ack-1 alarm=" + alarm["id"].(string), "nurse@station\tinfusion_start\tok", "chairside\trestore\tok"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("alarm log lacks %q:\n%s", want, out)
		}
	}

	missing, max, stream := seqGaps(t, rec)
	if len(missing) > 0 {
		t.Fatalf("stream %s: %d of %v seqs missing at the subscriber: %v", stream, len(missing), max, head(missing))
	}
	t.Logf("stream %s: seqs 1..%v all delivered", stream, max)
}

// seqGaps checks the subscriber saw one stream (the store's) and returns the
// seqs missing from 1 to the highest seen.
func seqGaps(t *testing.T, rec *recorder) (missing []float64, max float64, stream string) {
	t.Helper()
	streams := rec.records()
	if len(streams) != 1 {
		t.Fatalf("streams = %d, want 1 (the store's)", len(streams))
	}
	for s, seqs := range streams {
		stream = s
		for n := range seqs {
			max = max0(max, n)
		}
		for n := float64(1); n <= max; n++ {
			if seqs[n] == 0 {
				missing = append(missing, n)
			}
		}
	}
	return missing, max, stream
}

func max0(a, b float64) float64 {
	if b > a {
		return b
	}
	return a
}

func head(s []float64) []float64 {
	if len(s) > 20 {
		return s[:20]
	}
	return s
}

// A corrupt store file: the daemon raises store_fault and keeps monitoring.
func TestHILCorruptStore(t *testing.T) {
	_, rec, be := hilRig(t)
	if err := os.MkdirAll(filepath.Join(be.dir, "store"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(be.dir, "store", store.FileName), []byte("this is not a bbolt file, it is garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	be.start()
	rec.waitFor(t, "store_fault", "/alarm", 10*time.Second, func(v map[string]any) bool {
		return v["condition"] == "store_fault" && v["priority"] == "high" && strings.Contains(v["message"].(string), "moved aside")
	})
	rec.waitFor(t, "session without a store", "/session", 15*time.Second, func(v map[string]any) bool { return v["phase"] == "baseline" })
	rec.waitFor(t, "vitals without a store", "/vitals/spo2", 5*time.Second, func(v map[string]any) bool { return num(v["value"]) == 97 })
	if code, _ := be.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	aside, _ := filepath.Glob(filepath.Join(be.dir, "store", store.FileName+".corrupt-*"))
	if len(aside) != 1 {
		t.Fatalf("the corrupt file was not kept aside: %v", aside)
	}
}
