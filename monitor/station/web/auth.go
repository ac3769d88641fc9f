package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/chairside/chairside/monitor/station"
	"github.com/chairside/chairside/monitor/wire"
)

// Sign-in attempts: each client address and each user name may fail
// signinBurst times, then one more attempt per signinRefill.
const (
	signinBurst  = 5
	signinRefill = 12 * time.Second
	limiterMax   = 10000 // remembered keys; the oldest are forgotten beyond it
)

type bucket struct {
	tokens float64
	at     time.Time
}

// limiter is a token bucket per key (client address, user name).
type limiter struct {
	mu   sync.Mutex
	hits map[string]*bucket
}

// allow takes a token for key at now; when none is left it says how long
// until the next one.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.hits[key]
	if b == nil {
		if len(l.hits) >= limiterMax {
			for k, v := range l.hits { // forget the full ones first
				if v.tokens+now.Sub(v.at).Seconds()/signinRefill.Seconds() >= signinBurst {
					delete(l.hits, k)
				}
			}
			if len(l.hits) >= limiterMax {
				return false, signinRefill
			}
		}
		b = &bucket{tokens: signinBurst, at: now}
		l.hits[key] = b
	}
	b.tokens = min(signinBurst, b.tokens+now.Sub(b.at).Seconds()/signinRefill.Seconds())
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(signinRefill))
	}
	b.tokens--
	return true, 0
}

// refund gives back the token a successful attempt took.
func (l *limiter) refund(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.hits[key]; b != nil {
		b.tokens = min(signinBurst, b.tokens+1)
	}
}

type signinRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.TLS && !isLoopback(r) {
		writeError(w, http.StatusForbidden, "sign-in without TLS is only allowed from this machine (loopback); configure tls_cert_file and tls_key_file")
		return
	}
	var req signinRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := s.cfg.Now()
	for _, key := range []string{"ip:" + clientIP(r), "user:" + req.User} {
		if ok, wait := s.limiter.allow(key, now); !ok {
			secs := int(wait.Seconds()) + 1
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many sign-in attempts; try again in %d s", secs))
			s.log.Warn("sign-in rate limited", "user", req.User, "addr", clientIP(r))
			return
		}
	}
	hash, known := s.cfg.Users[req.User]
	if !known {
		hash = s.dummy
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(req.Password))
	if !known || err != nil {
		s.log.Warn("sign-in failed", "user", req.User, "addr", clientIP(r))
		writeError(w, http.StatusUnauthorized, "wrong user name or password")
		return
	}
	// A good password gives its attempts back: nurses signing in one
	// after the other at one desk are not held up.
	s.limiter.refund("ip:"+clientIP(r), now)
	s.limiter.refund("user:"+req.User, now)
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		writeError(w, http.StatusInternalServerError, "no randomness for a session")
		return
	}
	id := hex.EncodeToString(tok)
	s.sessMu.Lock()
	for k, v := range s.sessions { // forget expired sessions
		if now.After(v.expires) {
			delete(s.sessions, k)
		}
	}
	s.sessions[id] = session{user: req.User, expires: now.Add(s.cfg.SessionTTL)}
	s.sessMu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: s.cfg.TLS,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.cfg.SessionTTL.Seconds())})
	s.log.Info("signed in", "user", req.User, "addr", clientIP(r))
	writeJSON(w, http.StatusOK, struct {
		V    int    `json:"v"`
		User string `json:"user"`
	}{1, req.User})
}

// user is the signed-in user of the request, or "".
func (s *Server) user(r *http.Request) string {
	c, err := r.Cookie(cookieName)
	if err != nil || len(c.Value) != 64 {
		return ""
	}
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	for id, sess := range s.sessions {
		if subtle.ConstantTimeCompare([]byte(id), []byte(c.Value)) == 1 {
			if s.cfg.Now().After(sess.expires) {
				delete(s.sessions, id)
				return ""
			}
			return sess.user
		}
	}
	return ""
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.sessMu.Lock()
		if sess, ok := s.sessions[c.Value]; ok {
			s.log.Info("signed out", "user", sess.user)
			delete(s.sessions, c.Value)
		}
		s.sessMu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: s.cfg.TLS,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, http.StatusOK, struct {
		V  int  `json:"v"`
		OK bool `json:"ok"`
	}{1, true})
}

// me says who is signed in (extension): {"v":1,"user":null|"ann","actions":[...]}.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	var user *string
	if u := s.user(r); u != "" {
		user = &u
	}
	writeJSON(w, http.StatusOK, struct {
		V       int      `json:"v"`
		User    *string  `json:"user"`
		Station string   `json:"station"`
		Actions []string `json:"actions"`
	}{1, user, s.cfg.Name, s.cfg.Actions})
}

// cmdRequest is a §4 command without v, id, t and by (the station sets them).
type cmdRequest struct {
	Action    string         `json:"action"`
	Alarm     string         `json:"alarm,omitempty"`
	Encounter string         `json:"encounter,omitempty"`
	Override  bool           `json:"override,omitempty"`
	Note      string         `json:"note,omitempty"`
	Limit     map[string]any `json:"limit,omitempty"`

	V  any `json:"v"`
	ID any `json:"id"`
	T  any `json:"t"`
	By any `json:"by"`
}

type cmdAnswer struct {
	V     int    `json:"v"`
	ID    string `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func (s *Server) command(w http.ResponseWriter, r *http.Request) {
	user := s.user(r)
	if user == "" {
		writeError(w, http.StatusUnauthorized, "sign in to send commands")
		return
	}
	c, ok := s.lookup(w, r)
	if !ok {
		return
	}
	var req cmdRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	for name, v := range map[string]any{"v": req.V, "id": req.ID, "t": req.T, "by": req.By} {
		if v != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("field %q is set by the station; leave it out", name))
			return
		}
	}
	if !wire.IsAction(req.Action) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("field \"action\": %q is not an action", req.Action))
		return
	}
	if !s.allowed(req.Action) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("action %s is not allowed from this station (actions in its config)", req.Action))
		return
	}
	cmd := wire.Command{Action: req.Action, By: user + "@" + s.cfg.Name, Alarm: req.Alarm, Encounter: req.Encounter,
		Override: req.Override, Note: req.Note, Limit: req.Limit}
	sent, reply, err := s.cfg.Commander.Send(r.Context(), c.Chair, cmd, s.cfg.CmdTimeout)
	log := s.log.With("user", user, "chair", c.Chair, "action", req.Action, "id", sent.ID)
	switch {
	case errors.Is(err, station.ErrNoReply):
		log.Warn("command: no reply from the chair", "timeout", s.cfg.CmdTimeout)
		writeJSON(w, http.StatusGatewayTimeout, cmdAnswer{V: 1, ID: sent.ID, OK: false,
			Error: fmt.Sprintf("no reply from %s within %s: the command may or may not have been applied", c.Chair, s.cfg.CmdTimeout)})
	case errors.Is(err, context.Canceled):
		log.Info("command: the request was cancelled while waiting")
	case errors.Is(err, station.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		log.Error("command not sent", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, cmdAnswer{V: 1, ID: sent.ID, OK: false, Error: "not sent: " + err.Error()})
	default:
		log.Info("command", "ok", reply.OK, "error", reply.Error)
		writeJSON(w, http.StatusOK, cmdAnswer{V: 1, ID: reply.ID, OK: reply.OK, Error: reply.Error})
	}
}
