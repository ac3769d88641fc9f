package deploy

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	_ "modernc.org/sqlite"

	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
	"github.com/chairside/chairside/monitor/wire"
)

// The chairs' protocol in the bridge test: a session starts after 1 s of
// SpO2; SpO2 below 88 for 1 s is a high alarm, not latched, so the
// scenario's dip during the cut starts and ends an alarm.
const bridgeProtocol = `name = "bridge-test"
auto_start_after = "1s"
min_nibp_gap = "10s"
[phase.baseline]
nibp_every = "1h"
[phase.infusion]
duration = "40m"
nibp_every = "1h"
[phase.observation]
duration = "60m"
nibp_every = "1h"
repeat_nibp_after_alarm = "10m"
[[limit]]
condition = "spo2_low"
priority = "high"
below = 88
delay = "1s"
hysteresis = 1
latch = false
`

// SpO2 97, a dip to 84 from 18 s to 28 s (inside the cut, which starts
// once the station shows both chairs, a few seconds in).
const bridgeScenario = `name = "bridge-test"
description = "SpO2 97, 84 from 18 s to 28 s"
duration = "10m"
[start]
spo2 = 97
pulse = 72
bp = { systolic = 120, diastolic = 78 }
[[at]]
t = "18s"
spo2 = 84
[[at]]
t = "28s"
spo2 = 97
`

const (
	bridgeCut = 30 * time.Second
	// The station's shipped offline_after (configs/station.toml).
	stationOfflineAfter = 25 * time.Second
	// The chairs' [commands] max_age: shorter than the shipped 30 s, so
	// that a command sent at the start of the cut is clearly too old when
	// it arrives and one sent once the station shows the chairs offline
	// (25 s in) is clearly not.
	chairMaxAge = 10 * time.Second
)

var bridgeChairs = []string{"chair-n1", "chair-n2"}

// TestBridgeCut runs a site broker bridged (configs/mosquitto/bridge-site.conf,
// over TLS) through a TCP proxy to a central broker, both real mosquitto on
// loopback; two real chairside daemons with vitalsim on ptys publish to the
// site broker; the real station and recorder (SQLite) subscribe to the
// central one. The proxy cuts the bridge for 30 s. Then: the recorder holds
// every record the chairs published (as a witness on the site broker saw
// them) exactly once, recorder gaps shows no hole and status counts them
// all; the station showed each chair chair_offline during the cut and
// online after it; commands queued centrally during the cut are refused
// when older than the chair's max_age and applied otherwise; the central
// broker holds the chairs' retained state; a killed chair's Will crosses
// the bridge.
func TestBridgeCut(t *testing.T) {
	if testing.Short() {
		t.Skip("the bridge test runs about 40 s")
	}
	brokertest.NeedMosquitto(t)
	bin := build(t, native(), []string{"chairside", "vitalsim", "station", "recorder"})
	dir := t.TempDir()

	central := brokertest.StartMosquittoWith(t, brokertest.MosquittoOptions{
		Extra: recorderConfLines(t) + "log_type notice\n", // the central broker queues for the recorder as shipped
	})
	proxy := startProxy(t, strings.TrimPrefix(central.TLSURL(), "ssl://"))
	site := brokertest.StartMosquittoWith(t, brokertest.MosquittoOptions{
		Persistence: true,
		Extra:       "log_type notice",
		Tail:        siteBridgeConf(t, proxy.Addr(), central.PKI),
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("site broker log:\n%s\ncentral broker log:\n%s", tail(site.Log(), 4000), tail(central.Log(), 4000))
		}
	})
	waitBridgeUp(t, central)

	// The recorder subscribes before any chair publishes (the broker queues
	// for it only once it has subscribed once).
	dbPath := filepath.Join(dir, "records.db")
	recCfg := writeFile(t, dir, "recorder.toml", fmt.Sprintf(`name = "records-1"
topic_prefix = "chairside"
database = "sqlite:%s"
[mqtt]
broker = %q
ca_file = %q
keepalive = "10s"
`, dbPath, central.TLSURL(), central.PKI.CAFile))
	startProc(t, dir, "recorder", filepath.Join(bin, "recorder"), "-config", recCfg)

	httpPort := brokertest.FreePorts(t, 1)[0]
	stCfg := writeFile(t, dir, "station.toml", fmt.Sprintf(`name = "desk-1"
listen = "127.0.0.1:%d"
topic_prefix = "chairside"
store_dir = %q
keep = "72h"
users_file = %q
offline_after = %q
actions = ["ack", "nibp_now", "mark"]
[mqtt]
broker = %q
ca_file = %q
keepalive = "10s"
`, httpPort, filepath.Join(dir, "station"), filepath.Join(dir, "station.users"), stationOfflineAfter.String(), central.TLSURL(), central.PKI.CAFile))
	startProc(t, dir, "station", filepath.Join(bin, "station"), "-config", stCfg)
	api := fmt.Sprintf("http://127.0.0.1:%d/api/chairs", httpPort)
	waitRecorderSubscribed(t, filepath.Join(dir, "recorder.log"))

	witness := newWitness(t, site.PlainURL())

	writeFile(t, dir, "protocol.toml", bridgeProtocol)
	scen := writeFile(t, dir, "scenario.toml", bridgeScenario)
	var chairs []*exec.Cmd
	for _, c := range bridgeChairs {
		chairs = append(chairs, startChair(t, dir, bin, c, site.PlainURL(), scen))
	}

	// The station's view, every 250 ms, from now to the end.
	watch := watchStation(t, api)
	start := time.Now()
	watch.waitAll(t, 40*time.Second, "online with SpO2 before the cut", func(c stationChair) bool {
		return c.Online && len(c.SpO2) > 0 && string(c.SpO2) != "null" && !c.hasOffline()
	})
	t.Logf("chairs online at the station %.1f s after they started", time.Since(start).Seconds())

	cmds := newCommander(t, central.PlainURL())
	cutAt := time.Now()
	proxy.Cut()
	t.Logf("bridge cut for %v", bridgeCut)
	// Commands sent during the cut wait in the central broker for the
	// bridge: one sent at once is older than the chair's max_age when it
	// arrives and is refused; one sent late in the cut is applied, late.
	time.Sleep(500 * time.Millisecond)
	cmds.send(t, bridgeChairs[0], "cut-early")
	watch.waitAll(t, bridgeCut, "chair_offline during the cut", func(c stationChair) bool {
		return c.hasOffline() && !c.Online
	})
	offlineAfter := time.Since(cutAt)
	cmds.send(t, bridgeChairs[0], "cut-late")
	time.Sleep(time.Until(cutAt.Add(bridgeCut)))
	restoredAt := time.Now()
	duringCut := witness.since(cutAt)
	seenAtRestore := witness.keys()
	proxy.Restore()

	caughtUp := waitRecorderHas(t, dbPath, seenAtRestore, 30*time.Second)
	catchUp := caughtUp.Sub(restoredAt)
	watch.waitAll(t, 30*time.Second, "online again after the cut", func(c stationChair) bool {
		return c.Online && !c.hasOffline()
	})
	backAfter := time.Since(restoredAt)

	if r := cmds.reply(t, "cut-early", 10*time.Second); r.OK || !strings.Contains(r.Error, "max_age") {
		t.Errorf("a command held up longer than max_age by the cut: reply ok=%v error=%q; want refused as too old", r.OK, r.Error)
	}
	if r := cmds.reply(t, "cut-late", 10*time.Second); !r.OK {
		t.Errorf("a command sent late in the cut (younger than max_age when the link came back): refused (%q); want applied", r.Error)
	}
	cmds.send(t, bridgeChairs[0], "after-cut")
	if r := cmds.reply(t, "after-cut", 10*time.Second); !r.OK {
		t.Errorf("a command after the cut: refused (%q)", r.Error)
	}
	checkRetainedState(t, central.PlainURL())

	// The first chair stops cleanly (its offline state crosses the
	// bridge); the second is killed: its socket closes without a
	// DISCONNECT, the site broker publishes its Will at once and the bridge
	// carries it, so the station shows it offline well before its own
	// offline_after (25 s).
	_ = chairs[0].Process.Signal(syscall.SIGTERM)
	killedAt := time.Now()
	_ = chairs[1].Process.Kill()
	watch.waitChair(t, bridgeChairs[1], 20*time.Second, "offline by its Will", func(c stationChair) bool {
		return !c.Online && c.hasOffline()
	})
	willAfter := time.Since(killedAt)
	if willAfter >= stationOfflineAfter {
		t.Errorf("the killed chair showed offline %v after it died: that is the station's silence timer, not its Will", willAfter)
	}
	waitExit(t, chairs[0], 15*time.Second)
	watch.waitChair(t, bridgeChairs[0], 10*time.Second, "offline by its clean stop", func(c stationChair) bool {
		return !c.Online && c.hasOffline()
	})
	final := witness.keys()
	waitRecorderHas(t, dbPath, final, 20*time.Second)
	stored := recorderKeys(t, dbPath)
	for k := range stored {
		if _, ok := final[k]; !ok {
			t.Errorf("the recorder holds %v, which the site never saw", k)
		}
	}
	if dup := witness.duplicates(); dup > 0 {
		t.Logf("the site saw %d records twice (a chair's resend)", dup)
	}
	alarms := 0
	for k := range final {
		if k.kind == "alarm" {
			alarms++
		}
	}
	if alarms < 2*len(bridgeChairs) {
		t.Errorf("%d alarm records; want a start and an end per chair from the dip during the cut", alarms)
	}

	gaps := runJSON(t, filepath.Join(bin, "recorder"), "gaps", "-json", "-config", recCfg)
	if h, _ := gaps["holes"].([]any); len(h) != 0 {
		t.Errorf("recorder gaps shows holes: %v", h)
	}
	if g, _ := gaps["gap_records"].([]any); len(g) != 0 {
		t.Errorf("recorder gaps shows gap records: %v", g)
	}
	status := runJSON(t, filepath.Join(bin, "recorder"), "status", "-json", "-config", recCfg)
	if n, _ := status["records"].(float64); int(n) != len(final) {
		t.Errorf("recorder status counts %v records; the site saw %d distinct ones", status["records"], len(final))
	}
	if n, _ := status["rejected"].(float64); n != 0 {
		t.Errorf("recorder rejected %v messages: %v", n, status["last_rejected"])
	}
	t.Logf("FIGURES: %d chairs, %d records in all (%d alarm records), %d published during the %v cut; "+
		"station showed chair_offline %.1f s into the cut (offline_after %v) and every chair online %.1f s after the link came back; "+
		"the recorder had every record published before the restore %.1f s after it; duplicates dropped by the recorder: %v; a killed chair's Will showed at the station %.1f s after the kill",
		len(bridgeChairs), len(final), alarms, duringCut, bridgeCut, offlineAfter.Seconds(), stationOfflineAfter,
		backAfter.Seconds(), catchUp.Seconds(), status["duplicates"], willAfter.Seconds())
}

// siteBridgeConf is the shipped bridge-site.conf with the test's address
// (the proxy), the test PKI and a short reconnect delay (the shipped 5 to
// 30 s backoff would make the test wait up to 30 s after the cut).
func siteBridgeConf(t *testing.T, addr string, pki *brokertest.PKI) string {
	t.Helper()
	return siteBridgeConfCA(t, addr, pki, pki.CAFile)
}

// siteBridgeConfCA is siteBridgeConf with another CA for the bridge to
// check the central broker against.
func siteBridgeConfCA(t *testing.T, addr string, pki *brokertest.PKI, caFile string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", "mosquitto", "bridge-site.conf"))
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]string{
		"address":           addr,
		"bridge_cafile":     caFile,
		"bridge_certfile":   pki.ClientCert,
		"bridge_keyfile":    pki.ClientKey,
		"restart_timeout":   "1 2",
		"autosave_interval": "5",
	}
	seen := map[string]bool{}
	var out strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			if v, ok := set[f[0]]; ok {
				l = f[0] + " " + v
				seen[f[0]] = true
			}
		}
		out.WriteString(l + "\n")
	}
	for k := range set {
		if !seen[k] {
			t.Fatalf("bridge-site.conf has no %s line", k)
		}
	}
	return out.String()
}

// recorderConfLines are configs/mosquitto/recorder.conf's settings but
// persistence (brokertest sets it per test).
func recorderConfLines(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", "mosquitto", "recorder.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], "persist") || f[0] == "autosave_interval" {
			continue
		}
		out.WriteString(l + "\n")
	}
	return out.String()
}

// TestBridgeChecksTheCentralCertificate: a site whose bridge_cafile is not
// the CA that signed the central broker's certificate never connects (the
// shipped file verifies the peer: bridge_insecure false), and its chairs'
// messages do not reach the centre; the same file with the right CA does.
func TestBridgeChecksTheCentralCertificate(t *testing.T) {
	brokertest.NeedMosquitto(t)
	central := brokertest.StartMosquitto(t)
	site := brokertest.StartMosquittoWith(t, brokertest.MosquittoOptions{
		Tail: siteBridgeConfCA(t, strings.TrimPrefix(central.TLSURL(), "ssl://"), central.PKI, central.PKI.WrongCAFile),
	})
	got := make(chan string, 100)
	c := connect(t, central.PlainURL(), "central-watch", func(cl paho.Client) {
		cl.Subscribe("#", 1, func(_ paho.Client, m paho.Message) {
			select {
			case got <- m.Topic() + " " + string(m.Payload()):
			default:
			}
		})
	})
	defer c.Disconnect(100)
	pub := connect(t, site.PlainURL(), "site-chair", func(paho.Client) {})
	defer pub.Disconnect(100)
	for i := 0; i < 5; i++ {
		pub.Publish("chairside/chair-x/state", 1, true, `{"v":1,"online":true}`).WaitTimeout(time.Second)
		select {
		case m := <-got:
			t.Fatalf("the central broker got %q from a site whose bridge should not have trusted it", m)
		case <-time.After(time.Second):
		}
	}
	// The control: the same file with the right CA crosses.
	good := brokertest.StartMosquittoWith(t, brokertest.MosquittoOptions{
		Tail: siteBridgeConf(t, strings.TrimPrefix(central.TLSURL(), "ssl://"), central.PKI),
	})
	pub2 := connect(t, good.PlainURL(), "site-chair-2", func(paho.Client) {})
	defer pub2.Disconnect(100)
	deadline := time.After(15 * time.Second)
	for {
		pub2.Publish("chairside/chair-y/state", 1, true, `{"v":1,"online":true}`).WaitTimeout(time.Second)
		select {
		case m := <-got:
			if strings.HasPrefix(m, "chairside/chair-y/state ") {
				return
			}
		case <-time.After(500 * time.Millisecond):
		case <-deadline:
			t.Fatal("the control site, with the right CA, did not cross either")
		}
	}
}

// waitBridgeUp waits for the bridge's notification (1) on the central
// broker: the site is connected over TLS.
func waitBridgeUp(t *testing.T, central *brokertest.Mosquitto) {
	t.Helper()
	got := make(chan string, 10)
	c := connect(t, central.PlainURL(), "bridge-watch", func(cl paho.Client) {
		cl.Subscribe("sites/+/bridge", 1, func(_ paho.Client, m paho.Message) {
			select {
			case got <- string(m.Payload()):
			default:
			}
		})
	})
	defer c.Disconnect(100)
	deadline := time.After(20 * time.Second)
	for {
		select {
		case p := <-got:
			if p == "1" {
				return
			}
		case <-deadline:
			t.Fatal("the bridge never said it was up (sites/site-north/bridge = 1) on the central broker")
		}
	}
}

// connect is a clean-session paho client that runs onConnect at each
// (re)connect.
func connect(t *testing.T, url, id string, onConnect func(paho.Client)) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
		SetOrderMatters(false).SetConnectRetry(true).SetAutoReconnect(true).
		SetOnConnectHandler(func(c paho.Client) { onConnect(c) })
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s to %s: %v", id, url, tok.Error())
	}
	return c
}

// recordKey names one record: a chair's (stream, seq).
type recordKey struct {
	chair, stream string
	seq           uint64
	kind          string
}

func (k recordKey) id() string { return fmt.Sprintf("%s/%s/%d", k.chair, k.stream, k.seq) }

// isRecordKind says whether the topic below the chair is in the record
// stream (interfaces §4).
func isRecordKind(kind string) bool {
	switch kind {
	case wire.TopicAlarm, wire.TopicSession, wire.TopicSummary, wire.TopicGap:
		return true
	}
	return strings.HasPrefix(kind, "vitals/")
}

// witness subscribes to every chair on the site broker and keeps every
// record it sees, with when it first saw it.
type witness struct {
	mu    sync.Mutex
	first map[string]time.Time
	key   map[string]recordKey
	dups  int
	c     paho.Client
}

func newWitness(t *testing.T, url string) *witness {
	t.Helper()
	w := &witness{first: map[string]time.Time{}, key: map[string]recordKey{}}
	w.c = connect(t, url, "site-witness", func(c paho.Client) {
		c.Subscribe("chairside/+/#", 1, func(_ paho.Client, m paho.Message) { w.add(t, m) })
	})
	t.Cleanup(func() { w.c.Disconnect(100) })
	return w
}

func (w *witness) add(t *testing.T, m paho.Message) {
	parts := strings.SplitN(m.Topic(), "/", 3)
	if len(parts) < 3 || !isRecordKind(parts[2]) {
		return
	}
	var r struct {
		Stream string `json:"stream"`
		Seq    uint64 `json:"seq"`
	}
	if err := json.Unmarshal(m.Payload(), &r); err != nil || r.Stream == "" || r.Seq == 0 {
		t.Errorf("the site saw a record without stream and seq on %s: %s", m.Topic(), m.Payload())
		return
	}
	k := recordKey{chair: parts[1], stream: r.Stream, seq: r.Seq, kind: parts[2]}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.first[k.id()]; ok {
		w.dups++
		return
	}
	w.first[k.id()] = time.Now()
	w.key[k.id()] = k
}

// keys is every record seen so far.
func (w *witness) keys() map[recordKey]struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[recordKey]struct{}, len(w.key))
	for _, k := range w.key {
		out[recordKey{chair: k.chair, stream: k.stream, seq: k.seq, kind: k.kind}] = struct{}{}
	}
	return out
}

// since counts the records first seen at or after t.
func (w *witness) since(t time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, at := range w.first {
		if !at.Before(t) {
			n++
		}
	}
	return n
}

func (w *witness) duplicates() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dups
}

// recorderKeys reads every stored record's key from the recorder's SQLite
// file (read-only, beside the running recorder: WAL mode).
func recorderKeys(t *testing.T, dbPath string) map[recordKey]struct{} {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT chair, stream, seq, kind FROM records`)
	if err != nil {
		return nil // not made yet
	}
	defer rows.Close()
	out := map[recordKey]struct{}{}
	for rows.Next() {
		var k recordKey
		var seq int64
		if err := rows.Scan(&k.chair, &k.stream, &seq, &k.kind); err != nil {
			t.Fatal(err)
		}
		k.seq = uint64(seq)
		if _, dup := out[k]; dup {
			t.Errorf("the recorder holds %v twice", k)
		}
		out[k] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitRecorderHas waits until the recorder holds every record of want and
// returns when it did.
func waitRecorderHas(t *testing.T, dbPath string, want map[recordKey]struct{}, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		have := recorderKeys(t, dbPath)
		var missing []string
		for k := range want {
			if _, ok := have[k]; !ok {
				missing = append(missing, k.id()+" "+k.kind)
			}
		}
		if len(missing) == 0 {
			return time.Now()
		}
		if time.Now().After(deadline) {
			n := len(missing)
			if n > 20 {
				missing = append(missing[:20], "...")
			}
			t.Fatalf("after %v the recorder still misses %d of %d records: %v", timeout, n, len(want), missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitRecorderSubscribed waits for the recorder's log to say it is
// connected (it subscribes in the same step), and a moment more.
func waitRecorderSubscribed(t *testing.T, logPath string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if b, _ := os.ReadFile(logPath); bytes.Contains(b, []byte(`"msg":"mqtt connected"`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the recorder did not connect to the central broker in 20 s")
		}
	}
	time.Sleep(500 * time.Millisecond)
}

// stationChair is the part of the station's CHAIR object the test reads.
type stationChair struct {
	Chair         string          `json:"chair"`
	Online        bool            `json:"online"`
	SpO2          json.RawMessage `json:"spo2"`
	StationAlarms []struct {
		Condition string `json:"condition"`
	} `json:"station_alarms"`
}

func (c stationChair) hasOffline() bool {
	for _, a := range c.StationAlarms {
		if a.Condition == "chair_offline" {
			return true
		}
	}
	return false
}

// stationWatch polls the station's /api/chairs.
type stationWatch struct {
	mu     sync.Mutex
	last   map[string]stationChair
	err    error
	update chan struct{}
}

func watchStation(t *testing.T, url string) *stationWatch {
	t.Helper()
	w := &stationWatch{last: map[string]stationChair{}, update: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			var doc struct {
				Chairs []stationChair `json:"chairs"`
			}
			err := getJSON(ctx, url, &doc)
			w.mu.Lock()
			w.err = err
			if err == nil {
				for _, c := range doc.Chairs {
					w.last[c.Chair] = c
				}
			}
			w.mu.Unlock()
			select {
			case w.update <- struct{}{}:
			default:
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// waitChair waits until the chair satisfies ok.
func (w *stationWatch) waitChair(t *testing.T, id string, timeout time.Duration, what string, ok func(stationChair) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		c, seen := w.last[id]
		w.mu.Unlock()
		if seen && ok(c) {
			return
		}
		select {
		case <-w.update:
		case <-deadline:
			t.Fatalf("the station did not show %s %s within %v: online=%v offline_alarm=%v", id, what, timeout, c.Online, c.hasOffline())
		}
	}
}

// waitAll waits until every chair of bridgeChairs satisfies ok.
func (w *stationWatch) waitAll(t *testing.T, timeout time.Duration, what string, ok func(stationChair) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		all := true
		var view []string
		for _, id := range bridgeChairs {
			c, seen := w.last[id]
			if !seen || !ok(c) {
				all = false
			}
			view = append(view, fmt.Sprintf("%s online=%v offline_alarm=%v spo2=%s", id, c.Online, c.hasOffline(), c.SpO2))
		}
		err := w.err
		w.mu.Unlock()
		if all {
			return
		}
		select {
		case <-w.update:
		case <-deadline:
			t.Fatalf("the station did not show every chair %s within %v: %s (last poll error: %v)", what, timeout, strings.Join(view, "; "), err)
		}
	}
}

func getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s: %s", url, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// commander publishes commands on the central broker, as the station
// does, and collects the chairs' replies by id: the bridge carries cmd in
// and cmd/reply out.
type commander struct {
	c       paho.Client
	mu      sync.Mutex
	replies map[string]wire.Reply
	update  chan struct{}
}

func newCommander(t *testing.T, url string) *commander {
	t.Helper()
	cm := &commander{replies: map[string]wire.Reply{}, update: make(chan struct{}, 1)}
	subscribed := make(chan struct{}, 1)
	cm.c = connect(t, url, "cmd-test", func(cl paho.Client) {
		tok := cl.Subscribe("chairside/+/cmd/reply", 1, func(_ paho.Client, m paho.Message) {
			var r wire.Reply
			if err := json.Unmarshal(m.Payload(), &r); err != nil {
				t.Errorf("reply %s: %v", m.Payload(), err)
				return
			}
			cm.mu.Lock()
			cm.replies[r.ID] = r
			cm.mu.Unlock()
			select {
			case cm.update <- struct{}{}:
			default:
			}
		})
		tok.Wait()
		select {
		case subscribed <- struct{}{}:
		default:
		}
	})
	<-subscribed
	t.Cleanup(func() { cm.c.Disconnect(100) })
	return cm
}

// send publishes a mark command with id to chair, dated now.
func (cm *commander) send(t *testing.T, chair, id string) {
	t.Helper()
	cmd, err := json.Marshal(map[string]any{"v": 1, "id": id, "t": wire.Time{Time: time.Now()},
		"action": "mark", "by": "test@central", "note": "across the bridge"})
	if err != nil {
		t.Fatal(err)
	}
	if tok := cm.c.Publish("chairside/"+chair+"/cmd", 1, false, cmd); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish the command: %v", tok.Error())
	}
}

// reply waits for the reply to id.
func (cm *commander) reply(t *testing.T, id string, timeout time.Duration) wire.Reply {
	t.Helper()
	deadline := time.After(timeout)
	for {
		cm.mu.Lock()
		r, ok := cm.replies[id]
		cm.mu.Unlock()
		if ok {
			return r
		}
		select {
		case <-cm.update:
		case <-deadline:
			t.Fatalf("no reply to command %s across the bridge within %v", id, timeout)
		}
	}
}

// checkRetainedState reads, as a new subscriber of the central broker, each
// chair's retained state: the bridge carried it retained.
func checkRetainedState(t *testing.T, url string) {
	t.Helper()
	got := make(chan string, 10)
	c := connect(t, url, "retained-test", func(cl paho.Client) {
		cl.Subscribe("chairside/+/state", 1, func(_ paho.Client, m paho.Message) {
			if m.Retained() && bytes.Contains(m.Payload(), []byte(`"online":true`)) {
				got <- strings.Split(m.Topic(), "/")[1]
			}
		})
	})
	defer c.Disconnect(100)
	seen := map[string]bool{}
	deadline := time.After(5 * time.Second)
	for len(seen) < len(bridgeChairs) {
		select {
		case ch := <-got:
			seen[ch] = true
		case <-deadline:
			t.Fatalf("the central broker holds a retained online state for %v only; want %v", seen, bridgeChairs)
		}
	}
}

// startChair runs vitalsim on a pty and chairside on the site broker.
func startChair(t *testing.T, dir, bin, chair, broker, scen string) *exec.Cmd {
	t.Helper()
	cdir := filepath.Join(dir, chair)
	if err := os.MkdirAll(cdir, 0o700); err != nil {
		t.Fatal(err)
	}
	oxi := filepath.Join(cdir, "nonin")
	startProc(t, cdir, "vitalsim", filepath.Join(bin, "vitalsim"), "-scenario", scen, "-nonin", "pty:"+oxi)
	waitFile(t, oxi, 30*time.Second, filepath.Join(cdir, "vitalsim.log"))
	cfg := writeFile(t, cdir, "chairside.toml", fmt.Sprintf(`chair = %q
protocol = "../protocol.toml"
[mqtt]
broker = %q
keepalive = "5s"
[store]
dir = "store"
[commands]
remote = ["ack", "nibp_now", "mark"]
max_age = %q
[[sensor]]
driver = "nonin"
port = %q
%s
`, chair, broker, chairMaxAge.String(), oxi, noAnnunciator))
	return startProc(t, cdir, "chairside", filepath.Join(bin, "chairside"), "-config", cfg)
}

// startProc starts a program logging to dir/name.log; it is killed at the
// end of the test (its log shown when the test failed).
func startProc(t *testing.T, dir, name, prog string, args ...string) *exec.Cmd {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := command(nil, append([]string{prog}, args...)...)
	c.Stdout, c.Stderr = f, f
	if err := c.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = c.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = c.Process.Kill()
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log (%s):\n%s", name, dir, tail(string(b), 3000))
		}
	})
	return c
}

// waitExit waits for a started process to end (its Wait runs in startProc).
func waitExit(t *testing.T, c *exec.Cmd, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if err := c.Process.Signal(syscall.Signal(0)); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still running %v after SIGTERM", c.Path, timeout)
		}
	}
}

// runJSON runs a program and decodes its standard output.
func runJSON(t *testing.T, prog string, args ...string) map[string]any {
	t.Helper()
	out, err := exec.Command(prog, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", prog, args, err)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%s %v: %v: %s", prog, args, err, out)
	}
	return v
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// proxy forwards TCP connections to a target; Cut closes every connection
// and stops listening (connections are refused) until Restore listens again
// on the same port.
type proxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	l      net.Listener
	conns  map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p := &proxy{t: t, target: target, conns: map[net.Conn]struct{}{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	p.l = l
	go p.serve(l)
	t.Cleanup(p.Cut)
	return p
}

// Addr is host:port of the proxy, as mosquitto's address line takes it.
func (p *proxy) Addr() string { return p.addr }

func (p *proxy) serve(l net.Listener) {
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		out, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		go pipe(out, in)
		go pipe(in, out)
	}
}

// Cut closes every forwarded connection and the listener.
func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		_ = p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
}

// Restore listens again on the same port.
func (p *proxy) Restore() {
	p.t.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port was ours a moment ago
		if l, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go p.serve(l)
}
