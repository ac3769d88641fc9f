// Package web is the station's HTTP side (CONTRACT §5): the JSON API, the
// server-sent-events stream that pushes every chair's changes to open pages,
// sign-in with bcrypt passwords and a session cookie, and commands sent to
// chairs on behalf of signed-in users. The page itself is an http.Handler
// given in Config (package page); without one, / says it is not built in.
package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chairside/chairside/monitor/station"
	"github.com/chairside/chairside/monitor/station/history"
	"github.com/chairside/chairside/monitor/wire"
	"golang.org/x/crypto/bcrypt"
)

// Defaults.
const (
	DefaultCmdTimeout     = 5 * time.Second
	DefaultHeartbeatEvery = 5 * time.Second
	DefaultFlushEvery     = 250 * time.Millisecond
	DefaultSessionTTL     = 12 * time.Hour
	DefaultMaxStreams     = 200
	maxBodyBytes          = 4096
	maxTrendSpan          = 7 * 24 * time.Hour
	cookieName            = "station_session"
)

// Config is what the server needs.
type Config struct {
	Name    string   // the station's name: by = <user>@<name>
	Actions []string // what signed-in users may send
	Users   map[string][]byte
	TLS     bool // served over HTTPS: Secure cookies, sign-in from anywhere
	Keep    time.Duration

	Model     *station.Model
	History   *history.History
	Commander *station.Commander
	Page      http.Handler // nil: / says the page is not built in

	CmdTimeout     time.Duration
	HeartbeatEvery time.Duration
	FlushEvery     time.Duration // how often non-urgent chair changes go out
	SessionTTL     time.Duration
	MaxStreams     int // open event streams at once
	Logger         *slog.Logger
	Now            func() time.Time
}

// Server serves the API. Make it with New, run Broadcast in a goroutine,
// and serve Handler.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler

	sessMu   sync.Mutex
	sessions map[string]session

	limiter limiter

	streamMu sync.Mutex
	streams  map[*stream]struct{}
	dummy    []byte // a hash to compare against for unknown users

	lastLoop atomic.Int64 // unix ns of Broadcast's last turn (0: not running)
}

type session struct {
	user    string
	expires time.Time
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.CmdTimeout == 0 {
		cfg.CmdTimeout = DefaultCmdTimeout
	}
	if cfg.HeartbeatEvery == 0 {
		cfg.HeartbeatEvery = DefaultHeartbeatEvery
	}
	if cfg.FlushEvery == 0 {
		cfg.FlushEvery = DefaultFlushEvery
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Keep == 0 {
		cfg.Keep = 72 * time.Hour
	}
	s := &Server{cfg: cfg, log: cfg.Logger, sessions: map[string]session{}, streams: map[*stream]struct{}{},
		limiter: limiter{hits: map[string]*bucket{}}}
	// An unknown user is compared against this hash, so a failed sign-in
	// takes as long whether or not the user exists.
	// Its cost is the users' own.
	cost := BcryptCost
	for _, h := range cfg.Users {
		if c, err := bcrypt.Cost(h); err == nil {
			cost = c
			break
		}
	}
	s.dummy, _ = bcrypt.GenerateFromPassword([]byte(station.NewID()), cost)

	mux := http.NewServeMux()
	mux.HandleFunc("/api/chairs", only("GET", s.chairs))
	mux.HandleFunc("/api/chairs/{chair}", only("GET", s.chair))
	mux.HandleFunc("/api/chairs/{chair}/trend", only("GET", s.trend))
	mux.HandleFunc("/api/chairs/{chair}/alarms", only("GET", s.alarms))
	mux.HandleFunc("/api/chairs/{chair}/cmd", only("POST", s.command))
	mux.HandleFunc("/api/events", strictly("GET", s.events))
	mux.HandleFunc("/api/signin", only("POST", s.signin))
	mux.HandleFunc("/api/signout", only("POST", s.signout))
	mux.HandleFunc("/api/me", only("GET", s.me))
	mux.HandleFunc("/healthz", only("GET", s.healthz))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such API path: %s", r.URL.Path))
	})
	page := cfg.Page
	if page == nil {
		page = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintln(w, "chairside station: the web page is not built into this binary; the API is at /api/chairs and /api/events.")
		})
	}
	mux.Handle("/", page)

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request refused (Origin or Sec-Fetch-Site says another site)")
	}))
	s.handler = securityHeaders(cop.Handler(mux))
	return s
}

// Handler is the whole site.
func (s *Server) Handler() http.Handler { return s.handler }

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// only answers 405 with a JSON error for any other method.
func only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == "GET" && r.Method == "HEAD") {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, method))
			return
		}
		h(w, r)
	}
}

// strictly is only without HEAD (an event stream never ends).
func strictly(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, method))
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"v":1,"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

type apiError struct {
	V     int    `json:"v"`
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{V: 1, Error: msg})
}

// StationInfo is the station part of /api/chairs and of event: station.
type StationInfo struct {
	Name            string                 `json:"name"`
	BrokerConnected bool                   `json:"broker_connected"`
	Alarms          []station.StationAlarm `json:"alarms"` // extension: station_link_down
}

func (s *Server) stationInfo() StationInfo {
	return StationInfo{Name: s.cfg.Name, BrokerConnected: s.cfg.Model.Link().Connected, Alarms: s.cfg.Model.LinkAlarm()}
}

func (s *Server) chairs(w http.ResponseWriter, r *http.Request) {
	cs := s.cfg.Model.Chairs()
	raw := make([]json.RawMessage, 0, len(cs))
	for _, c := range cs {
		b, err := station.MarshalChair(c)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "encoding chair "+c.Chair+" failed")
			return
		}
		raw = append(raw, b)
	}
	writeJSON(w, http.StatusOK, struct {
		V       int               `json:"v"`
		T       wire.Time         `json:"t"`
		Station StationInfo       `json:"station"`
		Chairs  []json.RawMessage `json:"chairs"`
	}{1, wire.At(s.cfg.Now()), s.stationInfo(), raw})
}

// lookup finds the chair named in the path, or answers 404.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (station.Chair, bool) {
	id := r.PathValue("chair")
	if !station.ValidChair(id) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no chair %q (a chair id is 1 to 32 of a-z, 0-9, -)", id))
		return station.Chair{}, false
	}
	c, ok := s.cfg.Model.Chair(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no chair %q has been seen", id))
	}
	return c, ok
}

func (s *Server) chair(w http.ResponseWriter, r *http.Request) {
	c, ok := s.lookup(w, r)
	if !ok {
		return
	}
	b, err := station.MarshalChair(c)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the chair failed")
		return
	}
	writeJSON(w, http.StatusOK, json.RawMessage(b))
}

// queryTime reads an RFC 3339 query parameter; def when absent.
func queryTime(r *http.Request, key string, def time.Time) (time.Time, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("query %s=%q is not an RFC 3339 time (2026-12-05T08:00:00Z)", key, v)
	}
	return t, nil
}

func (s *Server) trend(w http.ResponseWriter, r *http.Request) {
	c, ok := s.lookup(w, r)
	if !ok {
		return
	}
	now := s.cfg.Now()
	to, err := queryTime(r, "to", now)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	from, err := queryTime(r, "from", to.Add(-30*time.Minute))
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case to.Before(from):
		writeError(w, http.StatusBadRequest, "query from is after to")
		return
	case to.Sub(from) > maxTrendSpan:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("from..to spans %s; at most %s", to.Sub(from), maxTrendSpan))
		return
	}
	tr, err := s.cfg.History.Trend(c.Chair, from, to)
	if err != nil {
		s.log.Error("trend read failed", "chair", c.Chair, "err", err)
		writeError(w, http.StatusInternalServerError, "reading the trend failed")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		V     int    `json:"v"`
		Chair string `json:"chair"`
		history.Trend
	}{1, c.Chair, tr})
}

func (s *Server) alarms(w http.ResponseWriter, r *http.Request) {
	c, ok := s.lookup(w, r)
	if !ok {
		return
	}
	from, err := queryTime(r, "from", s.cfg.Now().Add(-s.cfg.Keep))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	list, err := s.cfg.History.Alarms(c.Chair, from)
	if err != nil {
		s.log.Error("alarm history read failed", "chair", c.Chair, "err", err)
		writeError(w, http.StatusInternalServerError, "reading the alarm history failed")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		V      int               `json:"v"`
		Chair  string            `json:"chair"`
		Alarms []json.RawMessage `json:"alarms"`
	}{1, c.Chair, list})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	up := s.cfg.Model.Link().Connected
	code := http.StatusOK
	if !up {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, struct {
		OK              bool `json:"ok"`
		BrokerConnected bool `json:"broker_connected"`
	}{up, up})
}

// decodeBody reads a small JSON object strictly: one object, known fields,
// at most maxBodyBytes. The error names the problem.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("Content-Type %q: send application/json", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("body is more than %d bytes", maxBodyBytes)
		}
		return fmt.Errorf("reading the body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return fmt.Errorf("field %q must be %s, not %s", te.Field, te.Type, te.Value)
		case errors.Is(err, io.EOF):
			return errors.New("body is empty: send a JSON object")
		}
		return fmt.Errorf("body is not the expected JSON object: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return errors.New("body has data after the JSON object")
	}
	return nil
}

// isLoopback reports whether the request comes from this machine.
func isLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) allowed(action string) bool { return slices.Contains(s.cfg.Actions, action) }

// Broadcasting reports when Broadcast last went round its loop (zero
// before it runs): it turns at least every FlushEvery, so an older time
// means the push to the pages is stuck (the systemd watchdog uses it).
func (s *Server) Broadcasting() time.Time {
	ns := s.lastLoop.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Pages is the number of open event streams.
func (s *Server) Pages() int {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	return len(s.streams)
}

// Close ends every open event stream (at shutdown).
func (s *Server) Close() {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	for st := range s.streams {
		st.close()
	}
}
