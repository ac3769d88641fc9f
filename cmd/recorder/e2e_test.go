package main

// End-to-end tests of the recorder binary (built by TestMain) against a
// real mosquitto and real databases (SQLite, and PostgreSQL from pgtest):
// chairs that behave like chairs, a broker restart, the recorder killed
// with SIGKILL while it ingests, two recorders in one $share group, and bad
// input.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chairside/chairside/internal/childproc"
	"github.com/chairside/chairside/monitor/archive"
	"github.com/chairside/chairside/monitor/archive/pgtest"
	"github.com/chairside/chairside/monitor/mqttlink"
	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
	"github.com/chairside/chairside/monitor/wire"
)

var (
	binPath   string
	pgOnce    sync.Once
	pgCluster *pgtest.Cluster
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "recorder-bin-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "recorder")
	if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build recorder: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	if pgCluster != nil {
		pgCluster.Stop()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func postgresURL(t testing.TB) string {
	pgOnce.Do(func() { pgCluster = pgtest.Start() })
	return pgCluster.NewDatabase(t)
}

// broker is a mosquitto as the shipped snippet configures it for a
// recorder: sessions persist across a restart; a large in-flight window.
func broker(t testing.TB) *brokertest.Mosquitto {
	return brokertest.StartMosquittoWith(t, brokertest.MosquittoOptions{Persistence: true,
		Extra: "max_inflight_messages 1000\nmax_queued_messages 1000000\n"})
}

func writeConfig(t testing.TB, name, db, brokerURL, share string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".toml")
	text := fmt.Sprintf("name = %q\ndatabase = %q\nshare_group = %q\n[mqtt]\nbroker = %q\n", name, db, share, brokerURL)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// syncBuffer collects a process's stderr.
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

type proc struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
	err  error
}

func startRecorder(t testing.TB, cfg string, log *syncBuffer) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binPath, "-config", cfg), log: log, done: make(chan struct{})}
	childproc.DieWithParent(p.cmd, syscall.SIGKILL)
	p.cmd.Stderr = log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// term sends SIGTERM and returns how long the process took to exit.
func (p *proc) term(t testing.TB) time.Duration {
	t.Helper()
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("recorder did not exit within 10 s of SIGTERM")
	}
	if p.err != nil {
		t.Errorf("recorder exit after SIGTERM: %v", p.err)
	}
	return time.Since(start)
}

// sub runs a subcommand and returns its standard output.
func sub(t testing.TB, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("recorder %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

func statusOf(t testing.TB, cfg string) Status {
	t.Helper()
	var s Status
	if err := json.Unmarshal(sub(t, "status", "-json", "-config", cfg), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func gapsOf(t testing.TB, cfg string) Gaps {
	t.Helper()
	var g Gaps
	if err := json.Unmarshal(sub(t, "gaps", "-json", "-config", cfg), &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// waitRecords polls the archive (as another process would) until it holds
// n records, or fails.
func waitRecords(t testing.TB, dsn string, n int64, within time.Duration, log func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	var have int64
	for time.Now().Before(deadline) {
		if db, err := archive.Open(context.Background(), dsn, "", false); err == nil {
			_ = db.SQL().QueryRow("SELECT COUNT(*) FROM records").Scan(&have)
			db.Close()
			if have == n {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("archive holds %d records, want %d\nrecorder log:\n%s", have, n, log())
}

func countRecords(t testing.TB, dsn string) int64 {
	t.Helper()
	db, err := archive.Open(context.Background(), dsn, "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.SQL().QueryRow("SELECT COUNT(*) FROM records").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitState waits until the recorder stored a state message of chair:
// it is connected and subscribed.
func waitState(t testing.TB, pub *mqttlink.Link, dsn, chair string, log func() string) {
	t.Helper()
	st, _ := json.Marshal(wire.State{V: 1, Online: true, Boot: 1, Stream: "x", Version: "test", Phase: "idle"})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		pub.Publish(wire.Topic("chairside", chair, wire.TopicState), 1, false, st, nil)
		if db, err := archive.Open(context.Background(), dsn, "", false); err == nil {
			var n int
			_ = db.SQL().QueryRow("SELECT COUNT(*) FROM chairs WHERE chair = '" + chair + "'").Scan(&n)
			db.Close()
			if n == 1 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("recorder never stored %s's state\n%s", chair, log())
}

func link(t testing.TB, brokerURL, id string) *mqttlink.Link {
	t.Helper()
	l, err := mqttlink.New(mqttlink.Config{Broker: brokerURL, ClientID: id, ConnectRetryInterval: 100 * time.Millisecond,
		MaxReconnectInterval: 200 * time.Millisecond, PublishTimeout: 3 * time.Second, MaxInFlight: 2000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for !l.Up() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return l
}

// fakeChair publishes its record stream as a chair does: every record is
// kept until the broker acknowledged it and published again otherwise; the
// live records go first and the backlog follows in seq order; within a
// burst the order is shuffled.
type fakeChair struct {
	name, stream string
	n            int
}

func (c fakeChair) payload(seq int) []byte {
	v := wire.Vital{Record: wire.Record{V: 1, Stream: c.stream, Seq: uint64(seq), Boot: 1, ClockSynced: true},
		T:       wire.At(time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Second)),
		Session: "s-" + c.name, Param: "spo2", Value: wire.N(float64(90 + seq%10)), Unit: "%", Source: "nonin", Flags: []string{}}
	if seq%50 == 0 {
		v.Value, v.Flags = wire.Num{}, []string{"probe_off"} // no value: null with the reason
	}
	b, _ := json.Marshal(v)
	return b
}

func (c fakeChair) topic() string { return wire.Topic("chairside", c.name, wire.TopicSpO2) }

// run publishes seq 1..n in bursts of burst every pause, then the backlog,
// until the broker acknowledged every record.
func (c fakeChair) run(l *mqttlink.Link, burst int, pause time.Duration, rng *rand.Rand) (published int) {
	type result struct {
		seq int
		err error
	}
	next := 1
	var backlog []int
	for next <= c.n || len(backlog) > 0 {
		var send []int
		for i := 0; i < burst && next <= c.n; i++ {
			send = append(send, next)
			next++
		}
		rng.Shuffle(len(send), func(i, j int) { send[i], send[j] = send[j], send[i] })
		send = append(send, backlog...) // the backlog is in seq order
		backlog = nil
		results := make(chan result, len(send))
		for _, seq := range send {
			l.Publish(c.topic(), 1, false, c.payload(seq), func(err error) { results <- result{seq, err} })
			published++
		}
		for range send {
			if r := <-results; r.err != nil {
				backlog = append(backlog, r.seq)
			}
		}
		sortInts(backlog)
		time.Sleep(pause)
	}
	return published
}

func sortInts(s []int) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestExactlyOnceThroughOutages: three chairs publish 4000 records each
// while the recorder is killed with SIGKILL twice as it ingests (and
// restarted) and the broker is restarted; identical copies are published
// again and one conflicting copy. At the end the archive holds every
// (chair, stream, seq) exactly once, gaps reports no hole, the copies are
// counted as duplicates and the conflict is counted and kept aside once.
// On SQLite and on PostgreSQL.
func TestExactlyOnceThroughOutages(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dsn := "sqlite:" + filepath.Join(t.TempDir(), "records.db")
			if backend == "postgres" {
				dsn = postgresURL(t)
			}
			exactlyOnce(t, dsn)
		})
	}
}

func exactlyOnce(t testing.TB, dsn string) {
	m := broker(t)
	cfg := writeConfig(t, "r1", dsn, m.PlainURL(), "")
	log := &syncBuffer{}
	rec := startRecorder(t, cfg, log)
	probe := link(t, m.PlainURL(), "chairside-probe")
	waitState(t, probe, dsn, "probe", log.String)

	chairs := []fakeChair{{"chair-01", "aa01", 4000}, {"chair-02", "bb02", 4000}, {"chair-03", "cc03", 4000}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	published := 0
	for i, c := range chairs {
		l := link(t, m.PlainURL(), "chairside-"+c.name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := c.run(l, 40, 20*time.Millisecond, rand.New(rand.NewPCG(uint64(i), 7)))
			mu.Lock()
			published += n
			mu.Unlock()
		}()
	}
	// The outages, while the chairs publish.
	time.Sleep(400 * time.Millisecond)
	total := int64(0)
	for _, c := range chairs {
		total += int64(c.n)
	}
	if n := countRecords(t, dsn); n == 0 || n >= total {
		t.Fatalf("%d records stored at the kill: the recorder was not ingesting", n)
	}
	rec.kill() // SIGKILL while ingesting
	time.Sleep(300 * time.Millisecond)
	rec = startRecorder(t, cfg, log)
	time.Sleep(500 * time.Millisecond)
	m.Stop() // broker restart: sessions and queues saved
	time.Sleep(500 * time.Millisecond)
	m.Start()
	time.Sleep(700 * time.Millisecond)
	if n := countRecords(t, dsn); n >= total {
		t.Fatalf("%d records stored at the second kill: the recorder was not ingesting", n)
	}
	rec.kill()
	rec = startRecorder(t, cfg, log)
	wg.Wait()

	// Redelivered identical copies, and one conflicting copy.
	dups := 0
	for _, c := range chairs {
		l := link(t, m.PlainURL(), "chairside-"+c.name+"-again")
		for seq := 1; seq <= c.n; seq += 37 {
			l.Publish(c.topic(), 1, false, c.payload(seq), nil)
			dups++
		}
	}
	conflicting := chairs[0].payload(5)
	conflicting = bytes.Replace(conflicting, []byte(`"source":"nonin"`), []byte(`"source":"other"`), 1)
	probe.Publish(chairs[0].topic(), 1, false, conflicting, nil)
	probe.Publish(chairs[0].topic(), 1, false, conflicting, nil) // the same conflict twice: stored once

	waitRecords(t, dsn, total, 90*time.Second, log.String)
	deadline := time.Now().Add(30 * time.Second)
	var st Status
	for {
		st = statusOf(t, cfg)
		if st.Conflicts == 1 && st.Duplicates >= int64(dups)+1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.Records != total || st.ByKind["vitals/spo2"] != total {
		t.Errorf("status records %d (%v), want %d", st.Records, st.ByKind, total)
	}
	if st.Conflicts != 1 || st.ConflictsStored != 1 {
		t.Errorf("conflicts counted %d stored %d, want 1 and 1", st.Conflicts, st.ConflictsStored)
	}
	if st.Duplicates < int64(dups)+1 {
		t.Errorf("duplicates %d, want at least the %d copies sent again plus the repeated conflict", st.Duplicates, dups)
	}
	if st.Rejected != 0 {
		t.Errorf("rejected %d: %+v", st.Rejected, st.LastRejected)
	}
	g := gapsOf(t, cfg)
	if len(g.Holes) != 0 || len(g.GapRecords) != 0 {
		t.Errorf("gaps: %+v", g)
	}
	// Every (chair, stream, seq) once, with the first payload published.
	db, err := archive.Open(context.Background(), dsn, "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all, err := db.AllRecords(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range all {
		k := fmt.Sprintf("%s/%s/%d", r.Chair, r.Stream, r.Seq)
		if seen[k] {
			t.Fatalf("%s stored twice", k)
		}
		seen[k] = true
	}
	for _, c := range chairs {
		for seq := 1; seq <= c.n; seq++ {
			if !seen[fmt.Sprintf("%s/%s/%d", c.name, c.stream, seq)] {
				t.Fatalf("%s seq %d missing", c.name, seq)
			}
		}
	}
	t.Logf("%d publish attempts for %d records (refused while the broker was down, or unacknowledged, and tried again), %d duplicates dropped", published, total, st.Duplicates)
	if d := rec.term(t); d > 5*time.Second {
		t.Errorf("SIGTERM took %v, more than 5 s", d)
	}
}

// TestSharedGroupTwoRecorders: two recorders in one $share group on one
// PostgreSQL database split the chairs' messages; one is killed with
// SIGKILL midway and restarted (its share waits for it at the broker). The
// archive holds every record once and gaps reports none.
func TestSharedGroupTwoRecorders(t *testing.T) {
	dsn := postgresURL(t)
	m := broker(t)
	logA, logB := &syncBuffer{}, &syncBuffer{}
	cfgA := writeConfig(t, "ra", dsn, m.PlainURL(), "rec")
	cfgB := writeConfig(t, "rb", dsn, m.PlainURL(), "rec")
	both := func() string { return "A:\n" + logA.String() + "\nB:\n" + logB.String() }
	startRecorder(t, cfgA, logA)
	b := startRecorder(t, cfgB, logB)
	probe := link(t, m.PlainURL(), "chairside-probe")
	waitState(t, probe, dsn, "probe", both)
	time.Sleep(500 * time.Millisecond) // both subscribed (B's state is not observable apart)

	chairs := []fakeChair{{"chair-01", "aa01", 2000}, {"chair-02", "bb02", 2000}}
	var wg sync.WaitGroup
	for i, c := range chairs {
		l := link(t, m.PlainURL(), "chairside-"+c.name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(l, 40, 20*time.Millisecond, rand.New(rand.NewPCG(uint64(i), 9)))
		}()
	}
	time.Sleep(400 * time.Millisecond)
	b.kill()
	time.Sleep(500 * time.Millisecond)
	startRecorder(t, cfgB, logB)
	wg.Wait()
	waitRecords(t, dsn, 4000, 90*time.Second, both)
	if g := gapsOf(t, cfgA); len(g.Holes) != 0 {
		t.Fatalf("holes: %+v", g.Holes)
	}
	for _, l := range []string{logA.String(), logB.String()} {
		if !strings.Contains(l, `"filter":"$share/rec/chairside/+/#"`) {
			t.Fatalf("a recorder did not subscribe through the share group:\n%s", l)
		}
	}
}

// TestBadInputKeptAsideIngestionGoesOn: malformed, oversized, unknown and
// conflicting messages are kept aside with a reason and a log line naming
// the topic; the recorder keeps running and stores the good records after
// them; the CSV export of the session holds them, a null value as an empty
// cell.
func TestBadInputKeptAsideIngestionGoesOn(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "records.db")
	m := broker(t)
	cfg := writeConfig(t, "r1", dsn, m.PlainURL(), "")
	log := &syncBuffer{}
	rec := startRecorder(t, cfg, log)
	pub := link(t, m.PlainURL(), "chairside-bad")
	waitState(t, pub, dsn, "probe", log.String)

	c := fakeChair{"chair-07", "dd07", 100}
	bad := []struct{ topic, payload, reason string }{
		{c.topic(), "{not json", "malformed"},
		{c.topic(), `{"v":1,"stream":"dd07","seq":"7"}`, "malformed"},
		{c.topic(), `{"v":2,"stream":"dd07","seq":7,"param":"spo2"}`, "v is 2"},
		{c.topic(), `{"v":1,"seq":7,"param":"spo2"}`, "stream is missing"},
		{c.topic(), `{"v":1,"stream":"dd07","seq":7,"x":"` + strings.Repeat("a", 300<<10) + `"}`, "oversized"},
		{"chairside/chair-07/vitals/temperature", string(c.payload(1)), "unknown topic"},
		{"chairside/Chair 7/vitals/spo2", string(c.payload(1)), "chair"},
	}
	for _, b := range bad {
		pub.Publish(b.topic, 1, false, []byte(b.payload), nil)
	}
	for seq := 1; seq <= c.n; seq++ {
		pub.Publish(c.topic(), 1, false, c.payload(seq), nil)
	}
	pub.Publish(c.topic(), 1, false, bytes.Replace(c.payload(3), []byte(`"boot":1`), []byte(`"boot":9`), 1), nil)
	waitRecords(t, dsn, int64(c.n), 30*time.Second, log.String)
	deadline := time.Now().Add(10 * time.Second)
	var st Status
	for {
		st = statusOf(t, cfg)
		if st.Rejected == int64(len(bad)) && st.Conflicts == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Rejected != int64(len(bad)) || st.RejectedStored != int64(len(bad)) || st.Conflicts != 1 {
		t.Fatalf("rejected %d stored %d conflicts %d: %+v", st.Rejected, st.RejectedStored, st.Conflicts, st.LastRejected)
	}
	reasons := map[string]bool{}
	for _, r := range st.LastRejected {
		reasons[r.Reason] = true
	}
	for _, b := range bad {
		found := false
		for r := range reasons {
			if strings.Contains(r, b.reason) {
				found = true
			}
		}
		if !found {
			t.Errorf("no rejected message with reason %q: %v", b.reason, reasons)
		}
	}
	logText := log.String()
	if !strings.Contains(logText, `"msg":"message rejected, kept aside","topic":"chairside/chair-07/vitals/temperature","reason":"unknown topic`) {
		t.Errorf("no log line naming the unknown topic and the reason:\n%s", logText)
	}
	if !rec.running() {
		t.Fatalf("recorder stopped:\n%s", logText)
	}

	statusText := string(sub(t, "status", "-config", cfg))
	for _, want := range []string{"records  ", "vitals/spo2", "rejected messages", "unknown topic", "conflicts kept aside", "chair-07", "HL7 forwarding"} {
		if !strings.Contains(statusText, want) {
			t.Errorf("status text lacks %q:\n%s", want, statusText)
		}
	}
	if text := string(sub(t, "gaps", "-config", cfg)); !strings.Contains(text, "holes (seq missing between the lowest and highest stored, per chair and stream): 0") {
		t.Errorf("gaps text:\n%s", text)
	}

	out := filepath.Join(t.TempDir(), "s.csv")
	sub(t, "export", "-config", cfg, "-session", "s-chair-07", "-format", "csv", "-out", out)
	text, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	if len(lines) != c.n+1 || !strings.HasPrefix(lines[0], "chair,stream,seq,boot,kind,t,") {
		t.Fatalf("export has %d lines, want %d; head %q", len(lines), c.n+1, lines[0])
	}
	if !strings.HasPrefix(lines[50], "chair-07,dd07,50,1,vitals/spo2,2026-11-22T08:00:50.000Z,true,s-chair-07,spo2,,%,") || !strings.Contains(lines[50], "probe_off") {
		t.Errorf("a null value must be an empty cell with its flag: %q", lines[50])
	}
	if !strings.HasPrefix(lines[1], "chair-07,dd07,1,1,vitals/spo2,2026-11-22T08:00:01.000Z,true,s-chair-07,spo2,91,%,") {
		t.Errorf("row 1: %q", lines[1])
	}
}

// TestCheckAndFlags: -check exits 0 for the shipped config and 2 naming an
// unknown key; export refuses formats it does not have; -version prints.
func TestCheckAndFlags(t *testing.T) {
	call := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := call("-check", "-config", "../../configs/recorder.toml"); code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("%d %s", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("name = \"r\"\ndatabase = \"sqlite:x.db\"\nfavourite = 1\n[mqtt]\nbroker = \"tcp://127.0.0.1:1883\"\n"), 0o600)
	if code, out := call("-check", "-config", bad); code != 2 || !strings.Contains(out, "favourite") {
		t.Fatalf("%d %s", code, out)
	}
	if code, out := call("export", "-config", "../../configs/recorder.toml", "-session", "s-1", "-format", "xml"); code != 2 || !strings.Contains(out, "give csv, hl7 or fhir") {
		t.Fatalf("%d %s", code, out)
	}
	if code, _ := call("frobnicate"); code != 2 {
		t.Fatalf("unknown subcommand: %d", code)
	}
	if code, out := call("-version"); code != 0 || !strings.HasPrefix(out, "recorder ") {
		t.Fatalf("%d %s", code, out)
	}
}

// shippedBrokerLines are the queue and window settings of
// configs/mosquitto/recorder.conf (persistence is the test broker's own).
func shippedBrokerLines(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "configs", "mosquitto", "recorder.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, k := range []string{"max_queued_messages ", "max_queued_bytes ", "max_inflight_messages "} {
			if strings.HasPrefix(l, k) {
				keep = append(keep, l)
			}
		}
	}
	if len(keep) != 3 {
		t.Fatalf("recorder.conf lacks queue settings: %q", keep)
	}
	return strings.Join(keep, "\n")
}

// TestBrokerQueueWhileRecorderAway: 3000 records published while the
// recorder is stopped. With mosquitto's default max_queued_messages (1000)
// the broker drops the rest and recorder gaps shows the hole once a later
// record arrives; with the shipped configs/mosquitto/recorder.conf every
// record arrives.
func TestBrokerQueueWhileRecorderAway(t *testing.T) {
	for _, c := range []struct {
		name     string
		extra    func() string
		wantHole bool
	}{
		{"mosquitto default", func() string { return "max_queued_messages 1000" }, true},
		{"shipped recorder.conf", func() string { return shippedBrokerLines(t) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := brokertest.StartMosquittoWith(t, brokertest.MosquittoOptions{Extra: c.extra()})
			dsn := "sqlite:" + filepath.Join(t.TempDir(), "records.db")
			cfg := writeConfig(t, "r1", dsn, m.PlainURL(), "")
			log := &syncBuffer{}
			rec := startRecorder(t, cfg, log)
			pub := link(t, m.PlainURL(), "chairside-q")
			waitState(t, pub, dsn, "probe", log.String)
			rec.term(t) // its session and subscription stay at the broker

			ch := fakeChair{"chair-09", "ee09", 3000}
			ch.run(pub, 200, 0, rand.New(rand.NewPCG(1, 2)))
			startRecorder(t, cfg, log)
			waitState(t, pub, dsn, "probe-2", log.String) // connected again
			done := make(chan error, 1)
			pub.Publish(ch.topic(), 1, false, fakeChair{"chair-09", "ee09", 3001}.payload(3001), func(err error) { done <- err })
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !c.wantHole {
				waitRecords(t, dsn, 3001, 60*time.Second, func() string {
					g := gapsOf(t, cfg)
					st := statusOf(t, cfg)
					return fmt.Sprintf("holes %+v\nstatus %+v\nbroker:\n%s\nrecorder:\n%s", g.Holes, st, m.Log(), log.String())
				})
				if g := gapsOf(t, cfg); len(g.Holes) != 0 {
					t.Fatalf("holes %+v", g.Holes)
				}
				return
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				// The queue holds 1000 messages; which ones depends on
				// what else was queued (a probe's state), so only the sum
				// and the end are checked.
				g := gapsOf(t, cfg)
				lost := int64(0)
				for _, h := range g.Holes {
					lost += h.Missing
				}
				if n := len(g.Holes); n > 0 && g.Holes[n-1].Chair == "chair-09" && g.Holes[n-1].ToSeq == 3000 && lost >= 1990 {
					t.Logf("with the default queue: %d records lost, shown by gaps as %d holes, the last %d-%d", lost, n, g.Holes[n-1].FromSeq, g.Holes[n-1].ToSeq)
					return
				}
				if time.Now().After(deadline) {
					st := statusOf(t, cfg)
					t.Fatalf("expected one hole at the end of chair-09's stream, got %+v; %d records %+v\nbroker log:\n%s", g.Holes, st.Records, st.Chairs, m.Log())
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}

// TestSIGTERMWhileDraining: SIGTERM while the recorder drains a queued
// backlog ends it within 5 s; restarted, it stores the rest, every record
// once.
func TestSIGTERMWhileDraining(t *testing.T) {
	m := broker(t)
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "records.db")
	cfg := writeConfig(t, "r1", dsn, m.PlainURL(), "")
	log := &syncBuffer{}
	rec := startRecorder(t, cfg, log)
	pub := link(t, m.PlainURL(), "chairside-drain")
	waitState(t, pub, dsn, "probe", log.String)
	rec.term(t)
	c := fakeChair{"chair-05", "ff05", 30000}
	c.run(pub, 500, 0, rand.New(rand.NewPCG(3, 4)))

	rec = startRecorder(t, cfg, log)
	deadline := time.Now().Add(30 * time.Second)
	for countRecords(t, dsn) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	n := countRecords(t, dsn)
	if d := rec.term(t); d > 5*time.Second {
		t.Errorf("SIGTERM while draining took %v", d)
	}
	after := countRecords(t, dsn)
	if n == 0 || after >= int64(c.n) {
		t.Fatalf("stored %d then %d of %d at SIGTERM: not mid-drain", n, after, c.n)
	}
	startRecorder(t, cfg, log)
	waitRecords(t, dsn, int64(c.n), 60*time.Second, log.String)
	if g := gapsOf(t, cfg); len(g.Holes) != 0 {
		t.Fatalf("holes %+v", g.Holes)
	}
	t.Logf("SIGTERM after %d of %d records (%d at exit)", n, c.n, after)
}
