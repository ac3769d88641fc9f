package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/chairside/chairside/monitor/station"
	"github.com/chairside/chairside/monitor/station/history"
	"github.com/chairside/chairside/monitor/wire"
)

var t0 = time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)

// rig is a server with a model, a history and a fake broker: published
// commands are recorded, and answer (if set) plays the chair.
type rig struct {
	t      testing.TB
	bad    []string // commands sent that the chair would refuse
	srv    *Server
	model  *station.Model
	hist   *history.History
	mu     sync.Mutex
	sent   []wire.Command
	answer func(wire.Command) *wire.Reply
	cmdr   *station.Commander
}

var (
	hashOnce sync.Once
	annHash  []byte
)

func newRig(t testing.TB, mod ...func(*Config)) *rig {
	t.Helper()
	hashOnce.Do(func() { annHash, _ = bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost) })
	r := &rig{t: t, model: station.NewModel(station.Config{Prefix: "chairside", OfflineAfter: 25 * time.Second})}
	h, err := history.Open(filepath.Join(t.TempDir(), "h.db"), history.Options{Keep: 72 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	r.hist = h
	r.cmdr = station.NewCommander("chairside", func(_ context.Context, topic string, payload []byte) error {
		c, err := wire.ParseCommand(payload)
		chair := strings.Split(topic, "/")[1]
		r.mu.Lock()
		if err != nil {
			r.bad = append(r.bad, fmt.Sprintf("%v: %s", err, payload))
		}
		r.sent = append(r.sent, c)
		answer := r.answer
		r.mu.Unlock()
		if answer != nil {
			if rep := answer(c); rep != nil {
				go r.cmdr.Deliver(chair, *rep)
			}
		}
		return nil
	}, time.Now)
	cfg := Config{Name: "desk-1", Actions: []string{"ack", "nibp_now", "mark"}, Users: map[string][]byte{"ann": annHash},
		Model: r.model, History: h, Commander: r.cmdr, CmdTimeout: 300 * time.Millisecond,
		HeartbeatEvery: 100 * time.Millisecond, FlushEvery: 20 * time.Millisecond}
	for _, m := range mod {
		m(&cfg)
	}
	r.srv = New(cfg)
	t.Cleanup(func() {
		if len(r.bad) > 0 {
			t.Errorf("the station sent commands the chair refuses: %v", r.bad)
		}
	})
	r.feed("chair-01", "state", `{"v":1,"online":true,"boot":2,"stream":"st1","version":"v1","t":"2026-12-05T08:00:00Z","clock_synced":true,"session":"","phase":"idle"}`)
	return r
}

func (r *rig) feed(chair, suffix, payload string) {
	r.t.Helper()
	eff, err := r.model.Handle("chairside/"+chair+"/"+suffix, []byte(payload), false, time.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	r.hist.Add(eff)
	r.hist.Flush()
}

func (r *rig) commands() []wire.Command {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wire.Command(nil), r.sent...)
}

// do runs a request from 127.0.0.1 (or from, if given) and returns the code and body.
func (r *rig) do(method, path, body string, hdr ...string) (int, string, *http.Response) {
	r.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:5555"
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "RemoteAddr" {
			req.RemoteAddr = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	r.srv.Handler().ServeHTTP(w, req)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res
}

func (r *rig) signin() string {
	r.t.Helper()
	code, body, res := r.do("POST", "/api/signin", `{"user":"ann","password":"correct horse"}`)
	if code != 200 {
		r.t.Fatalf("sign-in: %d %s", code, body)
	}
	for _, c := range res.Cookies() {
		if c.Name == cookieName {
			return c.Name + "=" + c.Value
		}
	}
	r.t.Fatal("no session cookie")
	return ""
}

func wantError(t testing.TB, code int, body string, wantCode int, wantText string) {
	t.Helper()
	var e apiError
	if code != wantCode || json.Unmarshal([]byte(body), &e) != nil || e.V != 1 || !strings.Contains(e.Error, wantText) {
		t.Errorf("got %d %s; want %d with a JSON error containing %q", code, strings.TrimSpace(body), wantCode, wantText)
	}
}

func TestChairsAndOneChair(t *testing.T) {
	r := newRig(t)
	code, body, _ := r.do("GET", "/api/chairs", "")
	var all struct {
		V       int `json:"v"`
		Station struct {
			Name            string `json:"name"`
			BrokerConnected bool   `json:"broker_connected"`
		} `json:"station"`
		Chairs []map[string]any `json:"chairs"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &all) != nil || all.V != 1 || all.Station.Name != "desk-1" || len(all.Chairs) != 1 {
		t.Fatalf("/api/chairs: %d %s", code, body)
	}
	for _, k := range []string{"v", "chair", "online", "last_seen", "boot", "version", "phase", "session", "spo2", "pulse", "nibp", "alarms", "station_alarms", "records_missing"} {
		if _, ok := all.Chairs[0][k]; !ok {
			t.Errorf("CHAIR lacks %q", k)
		}
	}
	code, body, _ = r.do("GET", "/api/chairs/chair-01", "")
	if code != 200 || !strings.HasPrefix(body, `{"v":1,"chair":"chair-01"`) {
		t.Errorf("one chair: %d %s", code, body)
	}
	code, body, _ = r.do("GET", "/api/chairs/chair-02", "")
	wantError(t, code, body, 404, `no chair "chair-02"`)
	code, body, _ = r.do("GET", "/api/chairs/%2e%2e%2fetc", "")
	wantError(t, code, body, 404, "no chair")
	code, body, _ = r.do("GET", "/api/chairs/"+strings.Repeat("a", 5000), "")
	wantError(t, code, body, 404, "no chair")
	code, body, _ = r.do("GET", "/api/nothing", "")
	wantError(t, code, body, 404, "no such API path")
	code, body, _ = r.do("DELETE", "/api/chairs", "")
	wantError(t, code, body, 405, "use GET")
	code, body, _ = r.do("HEAD", "/api/events", "")
	if code != 405 {
		t.Errorf("HEAD /api/events: %d (an event stream never ends)", code)
	}
	code, body, _ = r.do("GET", "/healthz", "")
	if code != 200 || strings.TrimSpace(body) != `{"ok":true,"broker_connected":true}` {
		t.Errorf("healthz: %d %s", code, body)
	}
	code, body, _ = r.do("GET", "/", "")
	if code != 200 || !strings.Contains(body, "not built into this binary") {
		t.Errorf("/ without a page: %d %s", code, body)
	}
}

func TestSignin(t *testing.T) {
	r := newRig(t)
	code, body, _ := r.do("POST", "/api/signin", `{"user":"ann","password":"wrong"}`)
	wantError(t, code, body, 401, "wrong user name or password")
	for _, c := range []struct{ body, want string }{
		{`{"user":"ann",`, "not the expected JSON"},
		{`{"user":"ann","password":"x","admin":true}`, "unknown field"},
		{`{"user":1,"password":"x"}`, `"user" must be string`},
		{`{"user":"ann","password":"` + strings.Repeat("x", 10000) + `"}`, "more than 4096 bytes"},
	} {
		code, body, _ := r.do("POST", "/api/signin", c.body)
		wantError(t, code, body, 400, c.want)
	}
	code, body, _ = r.do("POST", "/api/signin", `{"user":"ann","password":"correct horse"}`, "Sec-Fetch-Site", "cross-site")
	wantError(t, code, body, 403, "cross-origin")
	code, body, _ = r.do("POST", "/api/signin", `{"user":"bob","password":"correct horse"}`)
	wantError(t, code, body, 401, "wrong user name or password")
	code, body, res := r.do("POST", "/api/signin", `{"user":"ann","password":"correct horse"}`)
	if code != 200 {
		t.Fatalf("sign-in: %d %s", code, body)
	}
	c := res.Cookies()[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, not Secure without TLS", c)
	}
	code, body, _ = r.do("GET", "/api/me", "", "Cookie", c.Name+"="+c.Value)
	if !strings.Contains(body, `"user":"ann"`) {
		t.Errorf("/api/me signed in: %d %s", code, body)
	}
	// Without TLS, only from loopback.
	code, body, _ = r.do("POST", "/api/signin", `{"user":"ann","password":"correct horse"}`, "RemoteAddr", "192.0.2.7:4000")
	wantError(t, code, body, 403, "only allowed from this machine")
	// Under TLS: Secure cookie, any address.
	rt := newRig(t, func(c *Config) { c.TLS = true })
	_, _, res = rt.do("POST", "/api/signin", `{"user":"ann","password":"correct horse"}`, "RemoteAddr", "192.0.2.7:4000")
	if len(res.Cookies()) == 0 || !res.Cookies()[0].Secure {
		t.Errorf("under TLS: cookies %v, want Secure", res.Cookies())
	}
	// Sign-out ends the session.
	cookie := r.signin()
	r.do("POST", "/api/signout", "", "Cookie", cookie)
	code, body, _ = r.do("POST", "/api/chairs/chair-01/cmd", `{"action":"nibp_now"}`, "Cookie", cookie)
	wantError(t, code, body, 401, "sign in")
}

// After five failures from one address, sign-in is refused for a while,
// even with the right password.
func TestSigninRateLimited(t *testing.T) {
	r := newRig(t)
	for i := range 5 {
		code, _, _ := r.do("POST", "/api/signin", fmt.Sprintf(`{"user":"u%d","password":"x"}`, i))
		if code != 401 {
			t.Fatalf("attempt %d: %d", i, code)
		}
	}
	code, body, res := r.do("POST", "/api/signin", `{"user":"ann","password":"correct horse"}`)
	wantError(t, code, body, 429, "too many sign-in attempts")
	// Good sign-ins from one desk, one after the other, are never held up.
	r2 := newRig(t)
	for i := range 20 {
		if code, body, _ := r2.do("POST", "/api/signin", `{"user":"ann","password":"correct horse"}`); code != 200 {
			t.Fatalf("good sign-in %d: %d %s", i, code, body)
		}
	}
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

func TestCommandRoundTrip(t *testing.T) {
	r := newRig(t)
	r.answer = func(c wire.Command) *wire.Reply {
		if c.Action == "ack" && c.Alarm == "a-2-9" {
			return &wire.Reply{V: 1, ID: c.ID, OK: true}
		}
		return &wire.Reply{V: 1, ID: c.ID, OK: false, Error: "alarm is not current"}
	}
	// Not signed in: 401 and nothing is sent.
	code, body, _ := r.do("POST", "/api/chairs/chair-01/cmd", `{"action":"ack","alarm":"a-2-9"}`)
	wantError(t, code, body, 401, "sign in")
	if len(r.commands()) != 0 {
		t.Fatal("an unsigned request sent a command")
	}
	cookie := r.signin()
	code, body, _ = r.do("POST", "/api/chairs/chair-01/cmd", `{"action":"ack","alarm":"a-2-9"}`, "Cookie", cookie, "Content-Type", "application/json")
	var ans cmdAnswer
	if code != 200 || json.Unmarshal([]byte(body), &ans) != nil || !ans.OK || ans.V != 1 {
		t.Fatalf("ack: %d %s", code, body)
	}
	sent := r.commands()
	if len(sent) != 1 || sent[0].By != "ann@desk-1" || sent[0].ID != ans.ID || sent[0].V != 1 || sent[0].T.IsZero() {
		t.Fatalf("sent %+v, answer id %s", sent, ans.ID)
	}
	// The chair's refusal is passed on as it is.
	code, body, _ = r.do("POST", "/api/chairs/chair-01/cmd", `{"action":"ack","alarm":"a-2-1"}`, "Cookie", cookie)
	if code != 200 || !strings.Contains(body, `"ok":false`) || !strings.Contains(body, "alarm is not current") {
		t.Errorf("refused ack: %d %s", code, body)
	}
	// Not in actions: 403, not sent.
	n := len(r.commands())
	code, body, _ = r.do("POST", "/api/chairs/chair-01/cmd", `{"action":"session_end"}`, "Cookie", cookie)
	wantError(t, code, body, 403, "not allowed")
	// Malformed: 400, naming the problem; nothing sent.
	for _, c := range []struct{ body, want string }{
		{`{"action":"ack"`, "not the expected JSON"},
		{`{"action":"ack","alarm":"*","v":1}`, `"v" is set by the station`},
		{`{"action":"ack","alarm":"*","by":"mallory@x"}`, `"by" is set by the station`},
		{`{"action":"ack","alarm":"*","extra":1}`, "unknown field"},
		{`{"action":"ack","alarm":7}`, `"alarm" must be string`},
		{`{"action":"fly"}`, "not an action"},
		{`{"action":"ack"}`, `"alarm" is missing`},
		{`{"action":"mark","note":"` + strings.Repeat("n", 201) + `"}`, "more than 200"},
		{`{"action":"mark","note":"a\u0007b"}`, "control character"},
		{`{"action":"ack","alarm":"*"}{}`, "data after"},
		{``, "empty"},
		{`{"action":"mark","note":"` + strings.Repeat("n", 5000) + `"}`, "more than 4096 bytes"},
	} {
		code, body, _ := r.do("POST", "/api/chairs/chair-01/cmd", c.body, "Cookie", cookie)
		wantError(t, code, body, 400, c.want)
	}
	code, body, _ = r.do("POST", "/api/chairs/chair-01/cmd", `{"action":"ack","alarm":"*"}`, "Cookie", cookie, "Content-Type", "text/plain")
	wantError(t, code, body, 400, "application/json")
	code, body, _ = r.do("POST", "/api/chairs/chair-77/cmd", `{"action":"nibp_now"}`, "Cookie", cookie)
	wantError(t, code, body, 404, "no chair")
	// Cross-origin: refused before anything is read.
	code, body, _ = r.do("POST", "/api/chairs/chair-01/cmd", `{"action":"nibp_now"}`, "Cookie", cookie, "Sec-Fetch-Site", "cross-site")
	wantError(t, code, body, 403, "cross-origin")
	code, body, _ = r.do("POST", "/api/chairs/chair-01/cmd", `{"action":"nibp_now"}`, "Cookie", cookie, "Origin", "https://evil.example")
	wantError(t, code, body, 403, "cross-origin")
	if len(r.commands()) != n {
		t.Fatalf("refused requests sent %d commands", len(r.commands())-n)
	}
	// A silent chair: 504 after CmdTimeout, with the request id.
	r.answer = nil
	start := time.Now()
	code, body, _ = r.do("POST", "/api/chairs/chair-01/cmd", `{"action":"nibp_now"}`, "Cookie", cookie)
	if code != 504 || !strings.Contains(body, "no reply from chair-01") || time.Since(start) < 300*time.Millisecond {
		t.Errorf("silent chair: %d %s after %v", code, body, time.Since(start))
	}
}

// A reply for another request, or from another chair, is not taken as this
// request's answer.
func TestCommandReplyMatchedByChairAndID(t *testing.T) {
	r := newRig(t)
	r.answer = func(c wire.Command) *wire.Reply {
		go r.cmdr.Deliver("chair-02", wire.Reply{V: 1, ID: c.ID, OK: true}) // wrong chair
		return &wire.Reply{V: 1, ID: "other", OK: true}                     // wrong id
	}
	cookie := r.signin()
	code, body, _ := r.do("POST", "/api/chairs/chair-01/cmd", `{"action":"nibp_now"}`, "Cookie", cookie)
	if code != 504 {
		t.Fatalf("mismatched replies taken: %d %s", code, body)
	}
}

func TestTrendAndAlarms(t *testing.T) {
	r := newRig(t)
	now := time.Now().UTC().Truncate(time.Second)
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	r.feed("chair-01", "vitals/spo2", `{"v":1,"stream":"st1","seq":1,"t":"`+at(-10*time.Second)+`","param":"spo2","value":95,"unit":"%","flags":[]}`)
	r.feed("chair-01", "vitals/spo2", `{"v":1,"stream":"st1","seq":2,"t":"`+at(-9*time.Second)+`","param":"spo2","value":null,"unit":"%","flags":["probe_off"]}`)
	r.feed("chair-01", "alarm", `{"v":1,"stream":"st1","seq":3,"t":"`+at(-8*time.Second)+`","id":"a-2-1","condition":"spo2_low","kind":"physiological","priority":"high","phase":"start","state":"active","message":"SpO2 86 < 88"}`)
	code, body, _ := r.do("GET", "/api/chairs/chair-01/trend?from="+at(-time.Minute)+"&to="+at(time.Second), "")
	if code != 200 || !strings.Contains(body, `"spo2":[["`) || !strings.Contains(body, `,95],["`) || !strings.Contains(body, `,null]]`) {
		t.Errorf("trend: %d %s", code, body)
	}
	code, body, _ = r.do("GET", "/api/chairs/chair-01/alarms?from="+at(-time.Hour), "")
	var hist struct {
		Alarms []wire.Alarm `json:"alarms"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &hist) != nil || len(hist.Alarms) != 1 || hist.Alarms[0].Message != "SpO2 86 < 88" {
		t.Errorf("alarms: %d %s", code, body)
	}
	code, body, _ = r.do("GET", "/api/chairs/chair-01/trend?from=yesterday", "")
	wantError(t, code, body, 400, "not an RFC 3339 time")
	code, body, _ = r.do("GET", "/api/chairs/chair-01/trend?from="+at(0)+"&to="+at(-time.Hour), "")
	wantError(t, code, body, 400, "from is after to")
	code, body, _ = r.do("GET", "/api/chairs/chair-01/trend?from=2000-01-01T00:00:00Z&to="+at(0), "")
	wantError(t, code, body, 400, "at most")
	code, body, _ = r.do("GET", "/api/chairs/chair-01/alarms?from=%00", "")
	wantError(t, code, body, 400, "not an RFC 3339")
}

// The event stream starts with the station and every chair, then pushes a
// chair's change, and beats every HeartbeatEvery.
func TestEventStream(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.srv.Broadcast(ctx)
	ts := httptest.NewServer(r.srv.Handler())
	defer ts.Close()
	res, err := http.Get(ts.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		var ev string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				events <- ev + " " + strings.TrimPrefix(line, "data: ")
			}
		}
		close(events)
	}()
	next := func(kind string) string {
		t.Helper()
		timeout := time.After(3 * time.Second)
		for {
			select {
			case e, ok := <-events:
				if !ok {
					t.Fatal("stream ended")
				}
				if strings.HasPrefix(e, kind+" ") {
					return strings.TrimPrefix(e, kind+" ")
				}
			case <-timeout:
				t.Fatalf("no %s event", kind)
			}
		}
	}
	if s := next("station"); !strings.Contains(s, `"name":"desk-1"`) {
		t.Errorf("station event %s", s)
	}
	if c := next("chair"); !strings.Contains(c, `"chair":"chair-01"`) {
		t.Errorf("first chair event %s", c)
	}
	r.feed("chair-01", "alarms", `{"v":1,"t":"2026-12-05T08:00:01Z","audio_paused_until":null,"alarms":[{"v":1,"t":"2026-12-05T08:00:01Z","id":"a-2-1","condition":"spo2_low","kind":"physiological","priority":"high","phase":"start","state":"active","message":"SpO2 86 < 88","acked_by":null}]}`)
	if c := next("chair"); !strings.Contains(c, `"id":"a-2-1"`) {
		t.Errorf("chair event after an alarm: %s", c)
	}
	if h := next("heartbeat"); !strings.Contains(h, `"v":1`) {
		t.Errorf("heartbeat %s", h)
	}
	r.model.SetLink(station.LinkState{Down: true, Since: time.Now(), Reason: "test"}, time.Now())
	if s := next("station"); !strings.Contains(s, `"broker_connected":false`) || !strings.Contains(s, "station_link_down") {
		t.Errorf("station event after link down: %s", s)
	}
}

// A page that does not read is closed once it is streamBuffer batches
// behind, and the others keep getting every batch.
func TestSlowStreamClosed(t *testing.T) {
	slow := &stream{out: make(chan []byte, streamBuffer), done: make(chan struct{})}
	for i := range streamBuffer {
		if !slow.send([]byte("x")) {
			t.Fatalf("closed after %d batches", i)
		}
	}
	if slow.send([]byte("x")) {
		t.Fatal("a stream that does not read is not closed")
	}
	select {
	case <-slow.done:
	default:
		t.Fatal("done not closed")
	}
}

// An acknowledgement reaches every open page.
func TestAckReachesEveryPage(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.srv.Broadcast(ctx)
	ts := httptest.NewServer(r.srv.Handler())
	defer ts.Close()
	var pages []*bufio.Scanner
	for range 3 {
		res, err := http.Get(ts.URL + "/api/events")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		pages = append(pages, sc)
	}
	time.Sleep(100 * time.Millisecond) // every stream registered
	r.feed("chair-01", "alarms", `{"v":1,"t":"2026-12-05T08:00:05Z","audio_paused_until":null,"alarms":[{"v":1,"t":"2026-12-05T08:00:05Z","id":"a-2-1","condition":"spo2_low","kind":"physiological","priority":"high","phase":"update","state":"acknowledged","message":"SpO2 86 < 88","acked_by":"ann@desk-1"}]}`)
	for i, sc := range pages {
		done := make(chan bool, 1)
		go func() {
			for sc.Scan() {
				if strings.Contains(sc.Text(), `"acked_by":"ann@desk-1"`) {
					done <- true
					return
				}
			}
			done <- false
		}()
		select {
		case ok := <-done:
			if !ok {
				t.Fatalf("page %d: stream ended without the ack", i)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("page %d never showed the ack", i)
		}
	}
}
