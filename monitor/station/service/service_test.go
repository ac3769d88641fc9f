package service

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
	"github.com/chairside/chairside/monitor/station/config"
	"github.com/chairside/chairside/monitor/station/web"
	"github.com/chairside/chairside/monitor/wire"
)

// clock is real time plus an offset the test moves forward, so timers of
// 25 s and 60 s pass at once while everything else runs as usual.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

// station is a running station under test.
type stationRun struct {
	t      *testing.T
	url    string
	client *http.Client
	cancel context.CancelFunc
	done   chan error
}

func startStation(t *testing.T, broker, storeDir string, clk *clock, mod ...func(*config.Config)) *stationRun {
	t.Helper()
	users := filepath.Join(storeDir, "users")
	if _, err := os.Stat(users); err != nil {
		if err := web.SetUser(users, "ann", "correct horse"); err != nil {
			t.Fatal(err)
		}
	}
	u, err := web.LoadUsers(users)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Name: "desk-1", Listen: "127.0.0.1:0", TopicPrefix: "chairside", StoreDir: storeDir,
		Keep: 72 * time.Hour, Users: u, OfflineAfter: 25 * time.Second, Actions: config.DefaultActions()}
	cfg.MQTT.Broker, cfg.MQTT.Keepalive = broker, 2*time.Second
	for _, m := range mod {
		m(cfg)
	}
	scheme := "http://"
	if cfg.TLS() {
		scheme = "https://"
	}
	addr := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	s := &stationRun{t: t, cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- Run(ctx, Options{Config: cfg, Now: clk.now, LinkDownAfter: time.Second, CmdTimeout: 700 * time.Millisecond,
			Listening: func(a string) { addr <- a }})
	}()
	select {
	case a := <-addr:
		s.url = scheme + a
	case err := <-s.done:
		t.Fatalf("station did not start: %v", err)
	}
	jar, _ := cookiejar.New(nil)
	s.client = &http.Client{Jar: jar, Timeout: 10 * time.Second}
	t.Cleanup(func() { s.stop() })
	return s
}

// stop ends the station and checks that it took under 5 s.
func (s *stationRun) stop() {
	if s.cancel == nil {
		return
	}
	start := time.Now()
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("station returned %v", err)
		}
	case <-time.After(5 * time.Second):
		s.t.Fatal("station did not stop within 5 s")
	}
	if d := time.Since(start); d > 5*time.Second {
		s.t.Errorf("stop took %v", d)
	}
}

func (s *stationRun) get(path string) (int, string) {
	s.t.Helper()
	res, err := s.client.Get(s.url + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (s *stationRun) post(path, body string) (int, string) {
	s.t.Helper()
	res, err := s.client.Post(s.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// eventually polls f until it returns "" (ok) or 10 s pass.
func eventually(t *testing.T, what string, f func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type chairView struct {
	Chair  string `json:"chair"`
	Online bool   `json:"online"`
	Phase  string `json:"phase"`
	SpO2   *struct {
		Value *float64 `json:"value"`
	} `json:"spo2"`
	Alarms []struct {
		ID      string `json:"id"`
		State   string `json:"state"`
		Message string `json:"message"`
	} `json:"alarms"`
	StationAlarms []struct {
		Condition string `json:"condition"`
		Priority  string `json:"priority"`
	} `json:"station_alarms"`
	RecordsMissing int `json:"records_missing"`
}

func (s *stationRun) chair(id string) (chairView, bool) {
	code, body := s.get("/api/chairs/" + id)
	var c chairView
	if code != 200 || json.Unmarshal([]byte(body), &c) != nil {
		return c, false
	}
	return c, true
}

func (c chairView) conditions() string {
	var out []string
	for _, a := range c.StationAlarms {
		out = append(out, a.Condition+"/"+a.Priority)
	}
	return strings.Join(out, ",")
}

// fakeChair publishes as a chair would.
type fakeChair struct {
	t  *testing.T
	c  paho.Client
	id string
}

func newFakeChair(t *testing.T, broker, id string) *fakeChair {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("chairside-" + id).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("fake chair connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return &fakeChair{t: t, c: c, id: id}
}

func (f *fakeChair) pub(suffix string, retained bool, payload string) {
	f.t.Helper()
	tok := f.c.Publish(wire.Topic("chairside", f.id, suffix), 1, retained, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		f.t.Fatalf("publish %s: %v", suffix, tok.Error())
	}
}

func stamp(t time.Time) string { return t.UTC().Format(wire.TimeLayout) }

func (f *fakeChair) state(online bool, phase string) {
	f.pub("state", true, fmt.Sprintf(`{"v":1,"online":%v,"boot":1,"stream":"s1","version":"v","t":"%s","clock_synced":true,"session":"s-1","phase":"%s"}`, online, stamp(time.Now()), phase))
}

func (f *fakeChair) spo2(seq int, at time.Time, v int) {
	f.pub("vitals/spo2", false, fmt.Sprintf(`{"v":1,"stream":"s1","seq":%d,"boot":1,"clock_synced":true,"t":"%s","session":"s-1","param":"spo2","value":%d,"unit":"%%","source":"nonin","flags":[]}`, seq, stamp(at), v))
}

// willConnect connects as a chair with a Will (online false) by hand and
// drops the TCP connection without a DISCONNECT: the broker then publishes
// the Will, as when a chair loses power.
func willConnect(t *testing.T, broker, chair string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(broker, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...) }
	will := `{"v":1,"online":false,"boot":1,"stream":"s2","version":"v","t":null,"clock_synced":null,"session":null,"phase":null}`
	var body []byte
	body = append(body, str("MQTT")...)
	body = append(body, 4, 0x2E, 0, 30) // 3.1.1; clean session, will QoS 1 retained; keepalive 30 s
	body = append(body, str("chairside-"+chair)...)
	body = append(body, str("chairside/"+chair+"/state")...)
	body = append(body, str(will)...)
	pkt := []byte{0x10}
	for n := len(body); ; { // MQTT's variable-length remaining length
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		pkt = append(pkt, b)
		if n == 0 {
			break
		}
	}
	pkt = append(pkt, body...)
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK %x %v", ack, err)
	}
	conn.Close()
}

// The station against a real mosquitto: a chair's retained state, alarms
// and live records show; a command goes out signed by the user and its
// reply comes back, and silence is a 504; a seq hole is records_missing
// after 60 s; a Will and heartbeat silence are chair_offline; a stopped
// broker is station_link_down.
func TestStationAgainstMosquitto(t *testing.T) {
	m := brokertest.StartMosquitto(t)
	broker := m.PlainURL()
	chair := newFakeChair(t, broker, "chair-01")
	now := time.Now()
	chair.state(true, "infusion")
	chair.pub("alarms", true, fmt.Sprintf(`{"v":1,"t":"%s","audio_paused_until":null,"alarms":[{"v":1,"clock_synced":true,"t":"%s","session":"s-1","id":"a-1-4","condition":"spo2_low","kind":"physiological","priority":"high","phase":"start","state":"active","condition_active":true,"value":86,"limit":88,"message":"SpO2 86 < 88","acked_by":null,"audio":"on","started":"%s"}]}`, stamp(now), stamp(now), stamp(now)))
	chair.pub("vitals/spo2", true, `{"v":1,"value":`) // a malformed retained payload: refused, nothing breaks

	clk := &clock{}
	st := startStation(t, broker, t.TempDir(), clk)
	eventually(t, "retained state and alarms shown", func() string {
		c, ok := st.chair("chair-01")
		if !ok || !c.Online || c.Phase != "infusion" || len(c.Alarms) != 1 || c.Alarms[0].Message != "SpO2 86 < 88" {
			return fmt.Sprintf("%+v", c)
		}
		return ""
	})
	for i := 1; i <= 3; i++ {
		chair.spo2(i, now.Add(time.Duration(i)*time.Second), 90+i)
	}
	eventually(t, "live SpO2 shown", func() string {
		if c, _ := st.chair("chair-01"); c.SpO2 == nil || c.SpO2.Value == nil || *c.SpO2.Value != 93 {
			return fmt.Sprintf("%+v", c.SpO2)
		}
		return ""
	})

	// Commands: unsigned 401 with nothing sent; signed, by = ann@desk-1 and
	// the chair's reply; a silent chair 504.
	var got sync.Map
	var answer atomic.Bool
	answer.Store(true)
	chair.c.Subscribe("chairside/chair-01/cmd", 1, func(_ paho.Client, msg paho.Message) {
		c, err := wire.ParseCommand(msg.Payload())
		if err != nil {
			t.Errorf("station sent a bad command: %v", err)
			return
		}
		got.Store(c.ID, c)
		if answer.Load() {
			rep, _ := json.Marshal(wire.Reply{V: 1, ID: c.ID, OK: true})
			chair.c.Publish("chairside/chair-01/cmd/reply", 1, false, rep)
		}
	}).WaitTimeout(5 * time.Second)
	if code, body := st.post("/api/chairs/chair-01/cmd", `{"action":"ack","alarm":"a-1-4"}`); code != 401 {
		t.Fatalf("unsigned command: %d %s", code, body)
	}
	if code, body := st.post("/api/signin", `{"user":"ann","password":"correct horse"}`); code != 200 {
		t.Fatalf("sign-in: %d %s", code, body)
	}
	code, body := st.post("/api/chairs/chair-01/cmd", `{"action":"ack","alarm":"a-1-4"}`)
	var ans struct {
		ID string `json:"id"`
		OK bool   `json:"ok"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &ans) != nil || !ans.OK {
		t.Fatalf("ack: %d %s", code, body)
	}
	v, ok := got.Load(ans.ID)
	if !ok || v.(wire.Command).By != "ann@desk-1" || v.(wire.Command).Alarm != "a-1-4" {
		t.Fatalf("the chair received %+v", v)
	}
	n := 0
	got.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Fatalf("the chair received %d commands, want 1 (the unsigned one must not be sent)", n)
	}
	answer.Store(false)
	if code, body := st.post("/api/chairs/chair-01/cmd", `{"action":"nibp_now"}`); code != 504 {
		t.Fatalf("silent chair: %d %s", code, body)
	}

	// A seq hole (4..9) is records_missing only after 60 s.
	chair.spo2(10, now.Add(10*time.Second), 95)
	eventually(t, "seq 10 received", func() string {
		if c, _ := st.chair("chair-01"); c.SpO2 == nil || *c.SpO2.Value != 95 {
			return "not yet"
		}
		return ""
	})
	time.Sleep(1100 * time.Millisecond) // a tick with the hole fresh
	if c, _ := st.chair("chair-01"); c.RecordsMissing != 0 {
		t.Fatalf("records_missing %d before 60 s", c.RecordsMissing)
	}
	clk.advance(61 * time.Second)
	eventually(t, "records_missing and chair_offline (no heartbeat in 61 s) after the clock moved", func() string {
		c, _ := st.chair("chair-01")
		if c.RecordsMissing != 6 || !strings.Contains(c.conditions(), "records_missing/low") || !strings.Contains(c.conditions(), "chair_offline/medium") {
			return fmt.Sprintf("%d missing, %q", c.RecordsMissing, c.conditions())
		}
		return ""
	})
	chair.state(true, "infusion") // a heartbeat ends chair_offline
	eventually(t, "heartbeat ends chair_offline", func() string {
		if c, _ := st.chair("chair-01"); strings.Contains(c.conditions(), "chair_offline") || !c.Online {
			return c.conditions()
		}
		return ""
	})

	// A Will: chair_offline at once, low (no session known).
	willConnect(t, broker, "chair-02")
	eventually(t, "Will raises chair_offline", func() string {
		c, ok := st.chair("chair-02")
		if !ok || c.Online || c.conditions() != "chair_offline/low" {
			return fmt.Sprintf("%v %+v", ok, c)
		}
		return ""
	})

	// The broker stops: station_link_down (high) on every chair, healthz 503.
	m.Kill()
	time.Sleep(300 * time.Millisecond)
	clk.advance(2 * time.Second)
	eventually(t, "station_link_down", func() string {
		c, _ := st.chair("chair-01")
		code, body := st.get("/healthz")
		if !strings.Contains(c.conditions(), "station_link_down/high") || code != 503 || !strings.Contains(body, `"broker_connected":false`) {
			return fmt.Sprintf("%q; healthz %d %s", c.conditions(), code, body)
		}
		return ""
	})
	m.Start()
	eventually(t, "station_link_down ends when the broker is back", func() string {
		if c, _ := st.chair("chair-01"); strings.Contains(c.conditions(), "station_link_down") {
			return c.conditions()
		}
		return ""
	})
}

// A restart of the station keeps the trends and the alarm history.
func TestRestartKeepsTrendsAndAlarmHistory(t *testing.T) {
	m := brokertest.StartMosquitto(t)
	broker := m.PlainURL()
	dir := t.TempDir()
	clk := &clock{}
	st := startStation(t, broker, dir, clk)
	chair := newFakeChair(t, broker, "chair-01")
	chair.state(true, "infusion")
	eventually(t, "chair seen", func() string {
		if _, ok := st.chair("chair-01"); !ok {
			return "not yet"
		}
		return ""
	})
	now := time.Now().Add(-time.Minute)
	for i := 1; i <= 30; i++ {
		chair.spo2(i, now.Add(time.Duration(i)*time.Second), 90+i%5)
	}
	chair.pub("alarm", false, fmt.Sprintf(`{"v":1,"stream":"s1","seq":31,"boot":1,"clock_synced":true,"t":"%s","session":"s-1","id":"a-1-4","condition":"spo2_low","kind":"physiological","priority":"high","phase":"start","state":"active","condition_active":true,"value":86,"limit":88,"message":"SpO2 86 < 88","acked_by":null,"audio":"on","started":"%s"}`, stamp(now), stamp(now)))
	from := now.Add(-time.Minute).UTC().Format(time.RFC3339)
	trendPath := "/api/chairs/chair-01/trend?from=" + from
	count := func() (int, int) {
		_, body := st.get(trendPath)
		var tr struct {
			SpO2 [][]any `json:"spo2"`
		}
		json.Unmarshal([]byte(body), &tr)
		_, body = st.get("/api/chairs/chair-01/alarms?from=" + from)
		var al struct {
			Alarms []wire.Alarm `json:"alarms"`
		}
		json.Unmarshal([]byte(body), &al)
		return len(tr.SpO2), len(al.Alarms)
	}
	eventually(t, "stored before the restart", func() string {
		if s, a := count(); s != 30 || a != 1 {
			return fmt.Sprintf("%d points, %d alarms", s, a)
		}
		return ""
	})
	st.stop()
	// While the station is down, the broker keeps its session and queues
	// what the chair sends.
	for i := 32; i <= 40; i++ {
		chair.spo2(i, now.Add(time.Duration(i)*time.Second), 95)
	}
	st = startStation(t, broker, dir, clk)
	eventually(t, "after a restart: the stored history and what was sent meanwhile", func() string {
		if s, a := count(); s != 39 || a != 1 {
			return fmt.Sprintf("%d points, %d alarms; want 39 and 1", s, a)
		}
		return ""
	})
	if c, _ := st.chair("chair-01"); c.RecordsMissing != 0 {
		t.Errorf("records_missing %d after a restart with a persistent session", c.RecordsMissing)
	}
}
