package page

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestServesEveryFileWithItsType: the index at "/", each file with the
// content type a browser needs to run it (a module script served as
// text/plain is refused), and nosniff so nothing is guessed.
func TestServesEveryFileWithItsType(t *testing.T) {
	h := Handler()
	cases := []struct{ path, ctype, contains string }{
		{"/", "text/html; charset=utf-8", `<script type="module" src="/app.js">`},
		{"/index.html", "text/html; charset=utf-8", `id="sound-banner"`},
		{"/app.js", "text/javascript; charset=utf-8", "EventSource"},
		{"/model.js", "text/javascript; charset=utf-8", "export function"},
		{"/audio.js", "text/javascript; charset=utf-8", "AudioContext"},
		{"/style.css", "text/css; charset=utf-8", "@keyframes flash-high"},
		{"/vendor/uplot-1.6.32/uPlot.iife.min.js", "text/javascript; charset=utf-8", "leeoniya/uPlot (v1.6.32)"},
		{"/vendor/uplot-1.6.32/uPlot.min.css", "text/css; charset=utf-8", ".uplot"},
		{"/vendor/uplot-1.6.32/LICENSE", "text/plain; charset=utf-8", "MIT"},
	}
	for _, c := range cases {
		w := get(t, h, http.MethodGet, c.path, nil)
		if w.Code != http.StatusOK {
			t.Errorf("%s: status %d", c.path, w.Code)
			continue
		}
		if got := w.Header().Get("Content-Type"); got != c.ctype {
			t.Errorf("%s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", c.path, got)
		}
		if !strings.Contains(w.Body.String(), c.contains) {
			t.Errorf("%s: body lacks %q", c.path, c.contains)
		}
	}
}

// TestCacheHeaders: the page's own files are revalidated on every load (so
// an upgraded station never runs yesterday's script), ETags make that
// cheap, and only versioned vendor files may be cached for good.
func TestCacheHeaders(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/", "/app.js", "/style.css"} {
		w := get(t, h, http.MethodGet, p, nil)
		if cc := w.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control %q, want no-cache", p, cc)
		}
		etag := w.Header().Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", p)
		}
		w2 := get(t, h, http.MethodGet, p, map[string]string{"If-None-Match": etag})
		if w2.Code != http.StatusNotModified {
			t.Errorf("%s: If-None-Match answered %d, want 304", p, w2.Code)
		}
	}
	w := get(t, h, http.MethodGet, "/vendor/uplot-1.6.32/uPlot.iife.min.js", nil)
	if cc := w.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("vendor Cache-Control %q, want immutable", cc)
	}
	if csp := get(t, h, http.MethodGet, "/", nil).Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("index CSP %q does not restrict scripts to the page's own", csp)
	}
}

// TestRefusesWhatItDoesNotServe: unknown paths 404 (no directory listings,
// no path tricks reaching outside static/), writes 405.
func TestRefusesWhatItDoesNotServe(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/nope.js", "/vendor/", "/vendor/uplot-1.6.32/", "/../page.go", "/static/index.html", "/page.go", "/%2e%2e/page.go", "/app.js/"} {
		if w := get(t, h, http.MethodGet, p, nil); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, w.Code)
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		w := get(t, h, m, "/", nil)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /: %d Allow %q", m, w.Code, w.Header().Get("Allow"))
		}
	}
	if w := get(t, h, http.MethodHead, "/app.js", nil); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("HEAD /app.js: %d with %d bytes", w.Code, w.Body.Len())
	}
}

// TestVendoredUPlotIsTheReleasedFile pins the vendored uPlot to the bytes of
// npm uplot@1.6.32 (the checksums in its README), so nobody edits it by hand.
func TestVendoredUPlotIsTheReleasedFile(t *testing.T) {
	readme, err := fs.ReadFile(static, "static/vendor/uplot-1.6.32/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"uPlot.iife.min.js", "uPlot.min.css"} {
		b, err := fs.ReadFile(static, "static/vendor/uplot-1.6.32/"+name)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if want := hex.EncodeToString(sum[:]) + "  " + name; !strings.Contains(string(readme), want) {
			t.Errorf("%s: sha256 %x is not the one in README.md", name, sum)
		}
	}
}

// TestScriptsNeverParseDataAsMarkup: the page inserts payload strings only
// as text. Any use of the HTML-parsing DOM sinks in the page's own scripts
// fails here, so a hostile chair name or alarm message can never become
// markup; the browser test checks the same end to end.
func TestScriptsNeverParseDataAsMarkup(t *testing.T) {
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|\beval\(|new Function\(|setHTMLUnsafe|srcdoc`)
	for _, name := range []string{"app.js", "model.js", "audio.js"} {
		b, err := fs.ReadFile(static, "static/"+name)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := sinks.FindString(line); m != "" {
				t.Errorf("%s:%d uses %s: %s", name, i+1, m, strings.TrimSpace(line))
			}
		}
	}
}

// TestUnknownFileKindIsAnError: a file the handler has no content type for
// is a packaging mistake, reported by name instead of served as a guess.
func TestUnknownFileKindIsAnError(t *testing.T) {
	_, err := newHandler(fstest.MapFS{
		"static/index.html": {Data: []byte("<!doctype html>")},
		"static/x.exe":      {Data: []byte("MZ")},
	})
	if err == nil || !strings.Contains(err.Error(), "x.exe") {
		t.Fatalf("err = %v, want one naming x.exe", err)
	}
	if _, err := newHandler(fstest.MapFS{"static/app.js": {Data: []byte("")}}); err == nil {
		t.Fatal("a page without index.html was accepted")
	}
}
