package main

// End-to-end tests of HL7 forwarding and the exports: chairs publish
// through a real mosquitto, the recorder binary archives (SQLite or
// PostgreSQL) and forwards to an MLLP receiver in the test (127.0.0.1).

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/hl7/hl7test"
	"github.com/chairside/chairside/monitor/mqttlink"
	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
	"github.com/chairside/chairside/monitor/wire"
)

func writeHL7Config(t testing.TB, name, db, brokerURL, share, target string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".toml")
	text := fmt.Sprintf("name = %q\ndatabase = %q\nshare_group = %q\n[mqtt]\nbroker = %q\n[hl7]\ntarget = %q\nminute_wait = \"10s\"\n",
		name, db, share, brokerURL, target)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var sessionT0 = time.Date(2026, 12, 4, 10, 15, 0, 0, time.UTC)

// sessionChair publishes a chair's session as chairside does: one stream,
// seq +1 a record, the session record, SpO2 and pulse every second and an
// NIBP every 50 s (the one at 100 s failed).
type sessionChair struct {
	name, stream, session string
	seconds               int
}

func (c sessionChair) messages() (topics []string, payloads [][]byte) {
	seq := uint64(0)
	rec := func() wire.Record {
		seq++
		return wire.Record{V: 1, Stream: c.stream, Seq: seq, Boot: 1, ClockSynced: true}
	}
	add := func(topic string, v any) {
		b, _ := json.Marshal(v)
		topics = append(topics, wire.Topic("chairside", c.name, topic))
		payloads = append(payloads, b)
	}
	at := func(s int) wire.Time { return wire.At(sessionT0.Add(time.Duration(s) * time.Second)) }
	add(wire.TopicSession, wire.Session{Record: rec(), T: at(0), ID: c.session, Encounter: "enc-" + c.name, Phase: "observation",
		PhaseStarted: at(0), Started: at(0), Protocol: "default"})
	for s := 0; s < c.seconds; s++ {
		spo2 := wire.Vital{Record: rec(), T: at(s), Session: c.session, Param: "spo2", Value: wire.N(float64(94 + s%5)), Unit: "%",
			Source: "nonin", Flags: []string{}}
		if s%17 == 0 {
			spo2.Value, spo2.Flags = wire.Num{}, []string{"probe_off"}
		}
		add(wire.TopicSpO2, spo2)
		add(wire.TopicPulse, wire.Vital{Record: rec(), T: at(s), Session: c.session, Param: "pulse", Value: wire.N(float64(60 + s%9)),
			Unit: "/min", Source: "nonin", Flags: []string{}})
		if s%50 == 25 {
			n := wire.NIBP{Record: rec(), T: at(s), Session: c.session, Param: "nibp", Systolic: wire.N(float64(110 + s%30)),
				Diastolic: wire.N(75), Mean: wire.N(88), Pulse: wire.N(66), Unit: "mm[Hg]", Source: "suntech", Request: "n-1", Flags: []string{}}
			if s == 125 {
				n.Systolic, n.Diastolic, n.Mean, n.Pulse, n.Error = wire.Num{}, wire.Num{}, wire.Num{}, wire.Num{}, "0x57 inflate timeout"
			}
			add(wire.TopicNIBP, n)
		}
	}
	return topics, payloads
}

// publish sends every message at QoS 1 and waits for the broker's acks.
func (c sessionChair) publish(t testing.TB, l *mqttlink.Link) int {
	t.Helper()
	topics, payloads := c.messages()
	errs := make(chan error, len(topics))
	for i := range topics {
		l.Publish(topics[i], 1, false, payloads[i], func(err error) { errs <- err })
	}
	for range topics {
		if err := <-errs; err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	return len(topics)
}

// waitForwarded polls status until no message is pending and n are
// decided (sent, refused or failed), or fails.
func waitForwarded(t testing.TB, cfg string, n int64, within time.Duration, log func() string) Status {
	t.Helper()
	deadline := time.Now().Add(within)
	var st Status
	for time.Now().Before(deadline) {
		st = statusOf(t, cfg)
		f := st.Forwarding.ByStatus
		if f["pending"] == 0 && f["sent"]+f["refused"]+f["failed"] == n && st.Forwarding.OpenMinutes == 0 {
			return st
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("forwarding not done: %+v\nrecorder log:\n%s", st.Forwarding, log())
	return st
}

func receivedIDs(r *hl7test.Receiver) []string {
	var out []string
	for _, g := range r.Got() {
		out = append(out, g.ControlID)
	}
	return out
}

// exportHL7 runs `recorder export -format hl7` and splits its messages.
func exportHL7(t testing.TB, cfg, session string) (ids []string, msgs [][]byte) {
	t.Helper()
	out := sub(t, "export", "-config", cfg, "-session", session, "-format", "hl7")
	for _, m := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
		msgs = append(msgs, m)
		ids = append(ids, hl7test.ControlID(m))
	}
	return ids, msgs
}

// Records published → HL7 messages received, each once, in time order;
// the receiver's copies are the bytes `recorder export -format hl7` writes
// from the database; the FHIR and CSV exports of the session agree with
// them. On SQLite and PostgreSQL.
func TestHL7ForwardingEndToEnd(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dsn := "sqlite:" + filepath.Join(t.TempDir(), "records.db")
			if backend == "postgres" {
				dsn = postgresURL(t)
			}
			m := broker(t)
			r := hl7test.Start(t, hl7test.AA)
			cfg := writeHL7Config(t, "r1", dsn, m.PlainURL(), "", r.Target())
			log := &syncBuffer{}
			startRecorder(t, cfg, log)
			pub := link(t, m.PlainURL(), "chairside-chair-07")
			waitState(t, pub, dsn, "probe", log.String)
			c := sessionChair{name: "chair-07", stream: "e7f1", session: "s-20261204-1015-1", seconds: 170}
			n := c.publish(t, pub)
			waitRecords(t, dsn, int64(n), 30*time.Second, log.String)
			// 3 minutes (10:15, 10:16 followed by later records; 10:17
			// after minute_wait) and 3 NIBPs (one failed).
			st := waitForwarded(t, cfg, 6, 40*time.Second, log.String)
			if st.Forwarding.ByStatus["sent"] != 6 || !st.Forwarding.On || st.Forwarding.Next != nil || st.Forwarding.LastSent == nil {
				t.Fatalf("forwarding %+v", st.Forwarding)
			}
			time.Sleep(1500 * time.Millisecond) // a second copy would come now
			got := r.Got()
			wantIDs, wantMsgs := exportHL7(t, cfg, c.session)
			if ids := receivedIDs(r); !slices.Equal(ids, wantIDs) {
				t.Fatalf("receiver got\n%v\nwant each once in the export's order\n%v\nlog:\n%s", ids, wantIDs, log.String())
			}
			for i := range got {
				if !bytes.Equal(got[i].Frame, wantMsgs[i]) {
					t.Errorf("%s sent differs from the export:\n%q\n%q", got[i].ControlID, got[i].Frame, wantMsgs[i])
				}
			}
			checkExportsAgree(t, cfg, c, wantMsgs)
		})
	}
}

// checkExportsAgree: the CSV has every record; the FHIR bundle has an
// Observation per SpO2 and pulse record and a panel per NIBP, validates
// structurally (npm fhir when installed) and carries the same NIBP numbers
// as the CSV and the HL7 messages.
func checkExportsAgree(t *testing.T, cfg string, c sessionChair, hl7Msgs [][]byte) {
	t.Helper()
	topics, _ := c.messages()
	rows, err := csv.NewReader(bytes.NewReader(sub(t, "export", "-config", cfg, "-session", c.session, "-format", "csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(topics)+1 {
		t.Fatalf("CSV has %d rows for %d records", len(rows)-1, len(topics))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var csvSys []string
	for _, row := range rows[1:] {
		if row[col["kind"]] == wire.TopicNIBP {
			csvSys = append(csvSys, row[col["systolic"]])
		}
	}
	var hl7Sys []string
	for _, m := range hl7Msgs {
		for _, seg := range strings.Split(string(m), "\r") {
			if f := strings.Split(seg, "|"); f[0] == "OBX" && len(f) > 4 && f[4] == "1.2.1.1" {
				if len(f) > 5 {
					hl7Sys = append(hl7Sys, f[5])
				} else {
					hl7Sys = append(hl7Sys, "")
				}
			}
		}
	}
	bundle := sub(t, "export", "-config", cfg, "-session", c.session, "-format", "fhir")
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
				Code         struct {
					Coding []struct{ System, Code string } `json:"coding"`
				} `json:"code"`
				Component []struct {
					Code struct {
						Coding []struct{ System, Code string } `json:"coding"`
					} `json:"code"`
					ValueQuantity *struct{ Value float64 } `json:"valueQuantity"`
				} `json:"component"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil || b.ResourceType != "Bundle" {
		t.Fatalf("FHIR export: %v %s", err, b.ResourceType)
	}
	counts := map[string]int{}
	var fhirSys []string
	for _, e := range b.Entry {
		if e.Resource.ResourceType != "Observation" {
			continue
		}
		code := e.Resource.Code.Coding[0].Code
		counts[code]++
		if code == "85354-9" {
			v := ""
			for _, comp := range e.Resource.Component {
				if comp.Code.Coding[0].Code == "8480-6" && comp.ValueQuantity != nil {
					v = fmt.Sprint(comp.ValueQuantity.Value)
				}
			}
			fhirSys = append(fhirSys, v)
		}
	}
	spo2, pulse, nibp := 0, 0, 0
	for _, tp := range topics {
		switch {
		case strings.HasSuffix(tp, wire.TopicSpO2):
			spo2++
		case strings.HasSuffix(tp, wire.TopicPulse):
			pulse++
		case strings.HasSuffix(tp, wire.TopicNIBP):
			nibp++
		}
	}
	// Heart rate: one per pulse record and one per NIBP pulse measured.
	if counts["2708-6"] != spo2 || counts["8867-4"] != pulse+nibp-1 || counts["85354-9"] != nibp {
		t.Errorf("FHIR observations %v for %d SpO2, %d pulse, %d NIBP records", counts, spo2, pulse, nibp)
	}
	if !slices.Equal(csvSys, hl7Sys) || !slices.Equal(csvSys, fhirSys) || len(csvSys) != nibp || csvSys[2] != "" {
		t.Errorf("systolic pressures disagree: CSV %q, HL7 %q, FHIR %q", csvSys, hl7Sys, fhirSys)
	}
	validateFHIR(t, bundle)
}

// validateFHIR runs npm fhir 4.12.0 (monitor/fhir's validator script) on a
// bundle when node and the package are installed.
func validateFHIR(t *testing.T, bundle []byte) {
	t.Helper()
	dir := os.Getenv("CHAIRSIDE_NPM_DIR")
	if dir == "" {
		if c, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(c, "chairside-npm")
		}
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "fhir", "package.json"))
	}
	if err != nil {
		msg := "SKIPPED npm fhir validation of the export: " + err.Error()
		if brokertest.Required("fhir") {
			t.Fatal("CHAIRSIDE_REQUIRE=fhir but " + msg)
		}
		t.Log(msg)
		return
	}
	f := filepath.Join(t.TempDir(), "bundle.json")
	if err := os.WriteFile(f, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "../../monitor/fhir/testdata/validate.js", f)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("validate.js: %v", err)
	}
	var res []struct {
		Valid    bool `json:"valid"`
		Messages []struct{ Location, Severity, Message string }
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res) != 1 {
		t.Fatalf("validate.js output %s: %v", out, err)
	}
	if !res[0].Valid {
		t.Errorf("npm fhir finds the export invalid: %+v", res[0].Messages)
	}
}

// The receiver down, then up and refusing one message: nothing is dropped
// while it is down (status shows the next message, its last error and next
// attempt), every message arrives once, the AE is kept with its reason and
// shown by status (JSON and text), and is not sent again.
func TestHL7ReceiverDownThenAE(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "records.db")
	m := broker(t)
	r := hl7test.Start(t, func(rc hl7test.Received, _ int) hl7test.Answer {
		if strings.Contains(rc.ControlID, ".n.") && strings.HasSuffix(rc.ControlID, ".155") {
			return hl7test.Answer{Code: "AE", Text: "unknown encounter enc-chair-03"}
		}
		return hl7test.Answer{Code: "AA"}
	})
	r.Down()
	cfg := writeHL7Config(t, "r1", dsn, m.PlainURL(), "", r.Target())
	log := &syncBuffer{}
	startRecorder(t, cfg, log)
	pub := link(t, m.PlainURL(), "chairside-chair-03")
	waitState(t, pub, dsn, "probe", log.String)
	c := sessionChair{name: "chair-03", stream: "c3c3", session: "s-20261204-1015-3", seconds: 130}
	n := c.publish(t, pub)
	waitRecords(t, dsn, int64(n), 30*time.Second, log.String)
	time.Sleep(3 * time.Second)
	st := statusOf(t, cfg)
	if nx := st.Forwarding.Next; nx == nil || nx.Attempts < 2 || nx.LastError == "" || nx.NextAttempt.IsZero() ||
		st.Forwarding.ByStatus["sent"] != 0 {
		t.Fatalf("while the receiver is down: %+v next %+v", st.Forwarding, st.Forwarding.Next)
	}
	text := string(sub(t, "status", "-config", cfg))
	if !strings.Contains(text, "last error") || !strings.Contains(text, "connection refused") {
		t.Errorf("status text does not show the error:\n%s", text)
	}
	r.Up()
	// 10:15 and 10:16 (followed), 10:17 (after minute_wait), 3 NIBPs.
	st = waitForwarded(t, cfg, 6, 60*time.Second, log.String)
	if st.Forwarding.ByStatus["refused"] != 1 || len(st.Forwarding.Refused) != 1 ||
		st.Forwarding.Refused[0].AckCode != "AE" || st.Forwarding.Refused[0].Reason != "unknown encounter enc-chair-03" {
		t.Fatalf("refused: %+v", st.Forwarding)
	}
	time.Sleep(1500 * time.Millisecond)
	wantIDs, _ := exportHL7(t, cfg, c.session)
	if ids := receivedIDs(r); !slices.Equal(ids, wantIDs) {
		t.Fatalf("receiver got\n%v\nwant each once\n%v", ids, wantIDs)
	}
	text = string(sub(t, "status", "-config", cfg))
	if !regexp.MustCompile(`refused\s+chair-03\.n\.c3c3\.155\s+AE\s+unknown encounter enc-chair-03`).MatchString(text) {
		t.Errorf("status text does not show the refusal:\n%s", text)
	}
	if !strings.Contains(log.String(), `"reason":"unknown encounter enc-chair-03"`) {
		t.Errorf("no log line for the refusal:\n%s", log.String())
	}
}

// The recorder killed (SIGKILL) after the receiver read a message and
// before its ack came: restarted, it sends that message again with the
// same control id and bytes; the receiver sees it twice under one id (and
// would drop the copy by it); every other message once.
func TestHL7KillBetweenSendAndMark(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "records.db")
	m := broker(t)
	r := hl7test.Start(t, func(hl7test.Received, int) hl7test.Answer { return hl7test.Answer{Stall: true} })
	cfg := writeHL7Config(t, "r1", dsn, m.PlainURL(), "", r.Target())
	log := &syncBuffer{}
	rec := startRecorder(t, cfg, log)
	pub := link(t, m.PlainURL(), "chairside-chair-05")
	waitState(t, pub, dsn, "probe", log.String)
	c := sessionChair{name: "chair-05", stream: "f5f5", session: "s-20261204-1015-5", seconds: 70}
	n := c.publish(t, pub)
	waitRecords(t, dsn, int64(n), 30*time.Second, log.String)
	select {
	case <-r.Arrived():
	case <-time.After(20 * time.Second):
		t.Fatalf("no message reached the receiver\n%s", log.String())
	}
	first := r.Got()[0]
	rec.kill()
	if st := statusOf(t, cfg); st.Forwarding.ByStatus["sent"] != 0 || st.Forwarding.Next == nil ||
		st.Forwarding.Next.ControlID != first.ControlID || st.Forwarding.Next.Claim != "r1" {
		t.Fatalf("after the kill: %+v next %+v", st.Forwarding, st.Forwarding.Next)
	}
	r.SetAnswer(hl7test.AA)
	startRecorder(t, cfg, log)
	// 10:15 (followed), 10:16 (after minute_wait), 1 NIBP.
	waitForwarded(t, cfg, 3, 40*time.Second, log.String)
	time.Sleep(1500 * time.Millisecond)
	got := r.Got()
	wantIDs, _ := exportHL7(t, cfg, c.session)
	ids := receivedIDs(r)
	if !slices.Equal(ids, append([]string{first.ControlID}, wantIDs...)) || !bytes.Equal(got[0].Frame, got[1].Frame) {
		t.Fatalf("receiver got\n%v\nwant %s twice (same bytes), then the rest once:\n%v", ids, first.ControlID, wantIDs)
	}
}

// Two recorders in one $share group on one PostgreSQL database, both
// forwarding: the chair's records are split between them, and every
// message reaches the receiver once, in order.
func TestHL7SharedRecordersSendOnce(t *testing.T) {
	dsn := postgresURL(t)
	m := broker(t)
	r := hl7test.Start(t, hl7test.AA)
	cfgA := writeHL7Config(t, "ra", dsn, m.PlainURL(), "rec", r.Target())
	cfgB := writeHL7Config(t, "rb", dsn, m.PlainURL(), "rec", r.Target())
	logA, logB := &syncBuffer{}, &syncBuffer{}
	both := func() string { return "A:\n" + logA.String() + "\nB:\n" + logB.String() }
	startRecorder(t, cfgA, logA)
	startRecorder(t, cfgB, logB)
	probe := link(t, m.PlainURL(), "chairside-probe")
	waitState(t, probe, dsn, "probe", both)
	time.Sleep(500 * time.Millisecond)
	chairs := []sessionChair{
		{name: "chair-11", stream: "a111", session: "s-20261204-1015-11", seconds: 200},
		{name: "chair-12", stream: "a112", session: "s-20261204-1015-12", seconds: 200},
	}
	total := 0
	for _, c := range chairs {
		total += c.publish(t, link(t, m.PlainURL(), "chairside-"+c.name))
	}
	waitRecords(t, dsn, int64(total)+0, 60*time.Second, both)
	// Per chair: minutes 10:15 to 10:18 and 4 NIBPs.
	waitForwarded(t, cfgA, 16, 60*time.Second, both)
	time.Sleep(1500 * time.Millisecond)
	var want []string
	for _, c := range chairs {
		ids, _ := exportHL7(t, cfgA, c.session)
		want = append(want, ids...)
	}
	ids := receivedIDs(r)
	if len(ids) != len(want) {
		t.Fatalf("receiver got %d messages, want %d:\n%v", len(ids), len(want), ids)
	}
	for _, c := range chairs {
		var mine []string
		for _, id := range ids {
			if strings.HasPrefix(id, c.name+".") {
				mine = append(mine, id)
			}
		}
		exp, _ := exportHL7(t, cfgA, c.session)
		if !slices.Equal(mine, exp) {
			t.Errorf("%s: receiver got\n%v\nwant each once in order\n%v", c.name, mine, exp)
		}
	}
	if !strings.Contains(logA.String(), "hl7 forwarding on") || !strings.Contains(logB.String(), "hl7 forwarding on") {
		t.Fatalf("both recorders should forward:\n%s", both())
	}
}

// publishThrough publishes in bursts as a chair does, publishing again
// whatever the broker did not acknowledge (it may be restarting), until
// every message is acknowledged.
func publishThrough(l *mqttlink.Link, topics []string, payloads [][]byte, burst int, pause time.Duration) {
	pending := make([]int, len(topics))
	for i := range pending {
		pending[i] = i
	}
	for len(pending) > 0 {
		n := min(burst, len(pending))
		send := pending[:n]
		errs := make(chan int, n)
		for _, i := range send {
			l.Publish(topics[i], 1, false, payloads[i], func(err error) {
				if err != nil {
					errs <- i
				} else {
					errs <- -1
				}
			})
		}
		var again []int
		for range send {
			if i := <-errs; i >= 0 {
				again = append(again, i)
			}
		}
		slices.Sort(again)
		pending = append(again, pending[n:]...)
		time.Sleep(pause)
	}
}

// Forwarding through outages: a chair publishes its session while the
// recorder is killed (SIGKILL) and restarted, the broker restarts and the
// receiver is down for a while. At the end the receiver has every message
// of the session's export, in order; a copy of one (the kill between its
// send and its mark) carries the same control id and bytes; every minute's
// message counts all its 60 records (none was sent incomplete).
func TestHL7ThroughOutages(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "records.db")
	m := broker(t)
	r := hl7test.Start(t, hl7test.AA)
	cfg := writeHL7Config(t, "r1", dsn, m.PlainURL(), "", r.Target())
	log := &syncBuffer{}
	rec := startRecorder(t, cfg, log)
	pub := link(t, m.PlainURL(), "chairside-chair-09")
	waitState(t, pub, dsn, "probe", log.String)
	c := sessionChair{name: "chair-09", stream: "d9d9", session: "s-20261204-1015-9", seconds: 240}
	topics, payloads := c.messages()
	done := make(chan struct{})
	go func() { publishThrough(pub, topics, payloads, 4, 40*time.Millisecond); close(done) }()

	time.Sleep(time.Second)
	if n := countRecords(t, dsn); n == 0 || n >= int64(len(topics)) {
		t.Fatalf("%d records stored at the kill: the chair was not publishing", n)
	}
	rec.kill()
	time.Sleep(300 * time.Millisecond)
	rec = startRecorder(t, cfg, log)
	time.Sleep(time.Second)
	r.Down()
	m.Stop()
	time.Sleep(time.Second)
	m.Start()
	time.Sleep(time.Second)
	select {
	case <-done:
		t.Fatal("the chair had published everything before the outages ended")
	default:
	}
	rec.kill()
	rec = startRecorder(t, cfg, log)
	time.Sleep(2 * time.Second)
	r.Up()
	<-done
	waitRecords(t, dsn, int64(len(topics)), 60*time.Second, log.String)
	// Minutes 10:15 to 10:18 and 5 NIBPs (one failed).
	waitForwarded(t, cfg, 9, 60*time.Second, log.String)
	time.Sleep(1500 * time.Millisecond)
	wantIDs, wantMsgs := exportHL7(t, cfg, c.session)
	var ids []string
	first := map[string][]byte{}
	dups := 0
	for _, g := range r.Got() {
		if f, ok := first[g.ControlID]; ok {
			dups++
			if !bytes.Equal(f, g.Frame) {
				t.Errorf("%s sent again with other bytes", g.ControlID)
			}
			continue
		}
		first[g.ControlID] = g.Frame
		ids = append(ids, g.ControlID)
	}
	if !slices.Equal(ids, wantIDs) || dups > 2 {
		t.Fatalf("receiver got (first copies)\n%v\nwant\n%v\nand %d copies (at most one per kill)\nlog:\n%s", ids, wantIDs, dups, log.String())
	}
	for i, id := range wantIDs {
		if !bytes.Equal(first[id], wantMsgs[i]) {
			t.Errorf("%s sent differs from the export", id)
		}
		if strings.Contains(id, ".m.") && !bytes.Contains(first[id], []byte("pulse median of 60 valid values in 60 records")) {
			t.Errorf("minute %s sent incomplete:\n%s", id, strings.ReplaceAll(string(first[id]), "\r", "\n"))
		}
	}
	t.Logf("%d messages, %d sent twice", len(ids), dups)
}
