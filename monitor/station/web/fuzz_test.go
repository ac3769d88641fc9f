package web

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/wire"
)

// FuzzCommandBody posts any body as a signed-in user: the answer is a JSON
// 200, 400, 403 or 504, never a panic, and whatever is sent to the chair
// passes the chair's own command parser.
func FuzzCommandBody(f *testing.F) {
	r := newRig(f, func(c *Config) { c.CmdTimeout = 200 * time.Millisecond })
	r.answer = func(c wire.Command) *wire.Reply { return &wire.Reply{V: 1, ID: c.ID, OK: true} }
	cookie := r.signin()
	for _, s := range []string{`{"action":"ack","alarm":"*"}`, `{"action":"mark","note":"x"}`, `{"action":"limits","limit":{"a":[1,{"b":"c"}]}}`,
		`{"action":"session_start","encounter":"e-1"}`, `{"action":"infusion_start","override":true}`, `{}`, `[]`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/api/chairs/chair-01/cmd", strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:1"
		req.Header.Set("Cookie", cookie)
		w := httptest.NewRecorder()
		r.srv.Handler().ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 403, 504:
		default:
			t.Fatalf("%d %s for %q", w.Code, w.Body, body)
		}
		if !strings.HasPrefix(w.Body.String(), `{"v":1,`) {
			t.Fatalf("answer is not a v1 JSON object: %s", w.Body)
		}
		r.mu.Lock()
		bad := r.bad
		r.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("sent a command the chair refuses: %v", bad)
		}
	})
}
