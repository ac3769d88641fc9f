package page

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/station"
	"github.com/chairside/chairside/monitor/station/web"
	"github.com/chairside/chairside/monitor/wire"
)

// fakeStation serves Handler() and a fake of the station API
// (docs/interfaces.md §9.4, as monitor/station/web serves it) on 127.0.0.1:
// the chairs from testdata/chairs.json with their times moved to now, an
// event stream the test pushes CHAIR and station events into, sign-in,
// /api/me, and a cmd endpoint that records what the page sent. Its shapes
// are the real server's: the station object is web.StationInfo, the
// fixture's chairs may only hold station.Chair's fields
// (checkFixtureShapes), and the cookie, heartbeat and answers are the
// server's. The browser test against the real binaries
// (cmd/station's TestStationEndToEnd) covers what a fake cannot.
type fakeStation struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	station   map[string]any
	chairs    map[string]map[string]any
	history   map[string][]any
	clients   map[chan string]struct{}
	heartbeat bool
	signins   []map[string]any
	cmds      []recordedCmd
	refused   int // cmd POSTs answered 401
	reply     func(chair string, body map[string]any) (int, map[string]any)
	stop      chan struct{}
}

type recordedCmd struct {
	Chair string
	Body  map[string]any
}

const (
	testUser     = "ann"
	testPassword = "correct horse"
	testCookie   = "station_session" // web's cookieName
)

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// shiftTimes moves every RFC 3339 time in v by d, so fixtures written at a
// fixed moment read as if they were current.
func shiftTimes(v any, d time.Duration) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = shiftTimes(e, d)
		}
	case []any:
		for i, e := range x {
			x[i] = shiftTimes(e, d)
		}
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil && strings.HasSuffix(x, "Z") {
			return ts(t.Add(d))
		}
	}
	return v
}

func newFakeStation(t testing.TB, fixture string) *fakeStation {
	t.Helper()
	b, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]any
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatalf("%s: %v", fixture, err)
	}
	at, err := time.Parse(time.RFC3339Nano, all["t"].(string))
	if err != nil {
		t.Fatal(err)
	}
	shiftTimes(all, time.Since(at).Truncate(time.Millisecond))
	checkFixtureShapes(t, fixture, all)
	f := &fakeStation{
		t: t, station: all["station"].(map[string]any),
		chairs: map[string]map[string]any{}, history: map[string][]any{},
		clients: map[chan string]struct{}{}, heartbeat: true, stop: make(chan struct{}),
	}
	for _, c := range all["chairs"].([]any) {
		m := c.(map[string]any)
		f.chairs[m["chair"].(string)] = m
	}
	f.reply = func(string, map[string]any) (int, map[string]any) {
		return http.StatusOK, map[string]any{"v": 1, "id": "r-1", "ok": true}
	}
	mux := http.NewServeMux()
	mux.Handle("/", Handler())
	mux.HandleFunc("GET /api/chairs", f.getChairs)
	mux.HandleFunc("GET /api/chairs/{chair}", f.getChair)
	mux.HandleFunc("GET /api/chairs/{chair}/trend", f.getTrend)
	mux.HandleFunc("GET /api/chairs/{chair}/alarms", f.getAlarms)
	mux.HandleFunc("GET /api/events", f.events)
	mux.HandleFunc("POST /api/signin", f.signin)
	mux.HandleFunc("POST /api/signout", f.signout)
	mux.HandleFunc("GET /api/me", f.me)
	mux.HandleFunc("POST /api/chairs/{chair}/cmd", f.cmd)
	f.srv = httptest.NewServer(mux) // 127.0.0.1
	t.Cleanup(f.close)
	go f.beat()
	return f
}

func (f *fakeStation) close() {
	close(f.stop)
	f.mu.Lock()
	for c := range f.clients {
		close(c)
		delete(f.clients, c)
	}
	f.heartbeat = false
	f.mu.Unlock()
	f.srv.CloseClientConnections()
	f.srv.Close()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeStation) getChairs(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.chairs))
	for id := range f.chairs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	list := make([]any, 0, len(ids))
	for _, id := range ids {
		list = append(list, f.chairs[id])
	}
	writeJSON(w, 200, map[string]any{"v": 1, "t": ts(time.Now()), "station": f.station, "chairs": list})
}

func (f *fakeStation) getChair(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.chairs[r.PathValue("chair")]
	if !ok {
		writeJSON(w, 404, map[string]any{"v": 1, "error": "unknown chair"})
		return
	}
	writeJSON(w, 200, c)
}

// getTrend answers 1 Hz SpO2 and pulse (a dip to 90 twenty minutes ago) and
// an NIBP every 5 minutes over the asked window.
func (f *fakeStation) getTrend(w http.ResponseWriter, r *http.Request) {
	from, err1 := time.Parse(time.RFC3339Nano, r.URL.Query().Get("from"))
	to, err2 := time.Parse(time.RFC3339Nano, r.URL.Query().Get("to"))
	if err1 != nil || err2 != nil || to.Before(from) {
		writeJSON(w, 400, map[string]any{"v": 1, "error": "from and to must be RFC 3339 times, from before to"})
		return
	}
	now := time.Now()
	spo2, pulse, nibp := []any{}, []any{}, []any{}
	for t := from.Truncate(time.Second); !t.After(to); t = t.Add(time.Second) {
		ago := now.Sub(t)
		s := 97.0
		if ago > 19*time.Minute && ago < 21*time.Minute {
			s = 90
		}
		var sv any = s
		if ago > 25*time.Minute && ago < 25*time.Minute+20*time.Second {
			sv = nil // probe off: no value
		}
		spo2 = append(spo2, []any{ts(t), sv})
		pulse = append(pulse, []any{ts(t), 72 + float64(t.Unix()%5)})
		if t.Unix()%300 == 0 {
			nibp = append(nibp, []any{ts(t), 126, 80, 95})
		}
	}
	writeJSON(w, 200, map[string]any{"v": 1, "chair": r.PathValue("chair"), "spo2": spo2, "pulse": pulse, "nibp": nibp})
}

func (f *fakeStation) getAlarms(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.history[r.PathValue("chair")]
	if h == nil {
		h = []any{}
	}
	writeJSON(w, 200, map[string]any{"v": 1, "chair": r.PathValue("chair"), "alarms": h})
}

func (f *fakeStation) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "no flusher", 500)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(200)
	_, _ = io.WriteString(w, "retry: 500\n\n") // reconnect fast after a drop
	fl.Flush()
	ch := make(chan string, 4096)
	f.mu.Lock()
	f.clients[ch] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		if _, ok := f.clients[ch]; ok {
			delete(f.clients, ch)
		}
		f.mu.Unlock()
	}()
	for {
		select {
		case <-r.Context().Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			if _, err := io.WriteString(w, m); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// send pushes one server-sent event to every open page.
func (f *fakeStation) send(event string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		f.t.Fatal(err)
	}
	f.sendRaw(event, string(b))
}

// sendRaw pushes an event whose data is sent as given (one line).
func (f *fakeStation) sendRaw(event, data string) {
	m := fmt.Sprintf("event: %s\ndata: %s\n\n", event, data)
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.clients {
		select {
		case c <- m:
		default:
			f.t.Errorf("event stream of a page is full")
		}
	}
}

// dropStreams ends every open event stream (the pages reconnect).
func (f *fakeStation) dropStreams() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.clients {
		close(c)
		delete(f.clients, c)
	}
}

// quietly changes a chair without telling the pages.
func (f *fakeStation) quietly(chair string, change func(c map[string]any)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f.chairs[chair])
}

func (f *fakeStation) clientCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.clients)
}

// beat sends a heartbeat every 2 s while heartbeats are on (the station
// sends one every 5 s; the page only needs one within 10 s).
func (f *fakeStation) beat() {
	tk := time.NewTicker(2 * time.Second)
	defer tk.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-tk.C:
		}
		f.mu.Lock()
		on := f.heartbeat
		f.mu.Unlock()
		if on {
			f.send("heartbeat", map[string]any{"v": 1, "t": ts(time.Now())})
		}
	}
}

func (f *fakeStation) setHeartbeat(on bool) {
	f.mu.Lock()
	f.heartbeat = on
	f.mu.Unlock()
}

// update changes one chair, marks it seen now and pushes it as an event.
func (f *fakeStation) update(chair string, change func(c map[string]any)) {
	f.mu.Lock()
	c := f.chairs[chair]
	if c == nil {
		c = map[string]any{"chair": chair}
		f.chairs[chair] = c
	}
	change(c)
	c["last_seen"] = ts(time.Now())
	b, _ := json.Marshal(c)
	f.mu.Unlock()
	f.send("chair", json.RawMessage(b))
}

func (f *fakeStation) signin(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
		writeJSON(w, 400, map[string]any{"v": 1, "error": "bad JSON"})
		return
	}
	f.mu.Lock()
	f.signins = append(f.signins, body)
	f.mu.Unlock()
	if body["user"] != testUser || body["password"] != testPassword {
		writeJSON(w, 401, map[string]any{"v": 1, "error": "wrong user or password"})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: testCookie, Value: "ok-" + testUser, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, 200, map[string]any{"v": 1, "user": testUser})
}

func (f *fakeStation) signout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: testCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, 200, map[string]any{"v": 1, "ok": true})
}

// me answers as web's /api/me: the user the cookie signs in, or null.
func (f *fakeStation) me(w http.ResponseWriter, r *http.Request) {
	var user any
	if c, err := r.Cookie(testCookie); err == nil && c.Value == "ok-"+testUser {
		user = testUser
	}
	writeJSON(w, 200, map[string]any{"v": 1, "user": user, "station": "desk-1",
		"actions": []string{"ack", "nibp_now", "mark", "session_start", "infusion_start", "infusion_end", "session_end"}})
}

// sendStation pushes event: station as the real server encodes it.
func (f *fakeStation) sendStation(info web.StationInfo) {
	f.send("station", struct {
		V int `json:"v"`
		web.StationInfo
	}{1, info})
}

// checkFixtureShapes fails when the fixture holds a field the real server
// never sends (a renamed or made-up field would test a page against an API
// that does not exist): CHAIR keys are station.Chair's (plus "v"), the
// station object's web.StationInfo's; keys starting zz_ are the fixture's
// deliberate unknown fields (the API may grow; the page ignores them).
func checkFixtureShapes(t testing.TB, fixture string, all map[string]any) {
	t.Helper()
	fields := func(v any) map[string]bool {
		b, _ := json.Marshal(v)
		var m map[string]any
		json.Unmarshal(b, &m)
		out := map[string]bool{"v": true}
		for k := range m {
			out[k] = true
		}
		return out
	}
	chairFields, stationFields := fields(station.Chair{}), fields(web.StationInfo{})
	for k := range all["station"].(map[string]any) {
		if !stationFields[k] {
			t.Errorf("%s: station field %q is not in web.StationInfo", fixture, k)
		}
	}
	for _, c := range all["chairs"].([]any) {
		for k := range c.(map[string]any) {
			if !chairFields[k] && !strings.HasPrefix(k, "zz_") { // zz_: a deliberate unknown field the page must ignore
				t.Errorf("%s: chair field %q is not in station.Chair", fixture, k)
			}
		}
	}
}

func (f *fakeStation) cmd(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(testCookie); err != nil || c.Value != "ok-"+testUser {
		f.mu.Lock()
		f.refused++
		f.mu.Unlock()
		writeJSON(w, 401, map[string]any{"v": 1, "error": "sign in to send commands"})
		return
	}
	var body map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
		writeJSON(w, 400, map[string]any{"v": 1, "error": "bad JSON"})
		return
	}
	chair := r.PathValue("chair")
	f.mu.Lock()
	f.cmds = append(f.cmds, recordedCmd{Chair: chair, Body: body})
	reply := f.reply
	f.mu.Unlock()
	code, ans := reply(chair, body)
	writeJSON(w, code, ans)
}

func (f *fakeStation) commands() []recordedCmd {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedCmd(nil), f.cmds...)
}

// asMap turns a wire payload into the generic form a CHAIR holds, so the
// page is fed exactly what monitor/wire encodes.
func asMap(t testing.TB, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func vital(t testing.TB, param string, value *float64, at time.Time, flags ...string) map[string]any {
	unit := map[string]string{"spo2": "%", "pulse": "/min"}[param]
	v := wire.Vital{Record: wire.Record{V: 1, Stream: "9f2c4a1b7d3e5f60", Seq: uint64(at.UnixMilli()), Boot: 3, ClockSynced: true},
		T: wire.At(at), Session: "s-20261122-0720-3", Param: param, Unit: unit, Source: "nonin", Flags: append([]string{}, flags...)}
	if value != nil {
		v.Value = wire.N(*value)
	}
	return asMap(t, v)
}

func fp(v float64) *float64 { return &v }

func alarm(t testing.TB, id, condition, priority, state string, value, limit float64, message string, ackedBy *string, started time.Time) map[string]any {
	a := wire.Alarm{Record: wire.Record{V: 1, ClockSynced: true}, T: wire.At(time.Now()), Session: "s-20261122-0720-3",
		ID: id, Condition: condition, Kind: wire.KindPhysiological, Priority: priority, Phase: wire.PhaseUpdate, State: state,
		ConditionActive: state == "active" || state == "acknowledged", Value: wire.N(value), Limit: wire.N(limit),
		Message: message, AckedBy: ackedBy, Audio: wire.AudioOn, Started: wire.At(started)}
	if state == "acknowledged" {
		a.Audio = wire.AudioOff
	}
	return asMap(t, a)
}
