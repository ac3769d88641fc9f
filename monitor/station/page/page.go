// Package page is the nursing station's web page: plain HTML, CSS and
// JavaScript modules plus a vendored uPlot, embedded in the binary so the
// station needs no build step and no files beside it.
//
// Handler serves only these files; the station mounts its API (/api/...,
// /healthz) beside it. The page talks to the API of the station's contract:
// GET /api/chairs, /api/chairs/{chair}/trend and /alarms, the /api/events
// stream, POST /api/signin, /api/signout and /api/chairs/{chair}/cmd.
package page

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// contentTypes names the type of every kind of file the page ships; a file
// of another kind is not served (it would be a mistake in the package).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// contentSecurityPolicy lets the page run only its own scripts: a payload
// string that ever reached the DOM as markup still could not run.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

type file struct {
	body        []byte
	contentType string
	etag        string
	immutable   bool // its URL names its version (vendor/<name>-<version>/)
}

type handler struct {
	files map[string]file // by URL path, "/" for the index
}

// Handler serves the page: the index at "/", everything else by its path
// under static/. Files under vendor/ carry their version in the path and may
// be cached for good; the page's own files are revalidated on every load
// (ETag) so an upgraded station never runs a stale script.
func Handler() http.Handler {
	h, err := newHandler(static)
	if err != nil {
		// The files are embedded at build time; a failure here is a bug
		// in this package that every test catches.
		panic(fmt.Sprintf("page: %v", err))
	}
	return h
}

func newHandler(fsys fs.FS) (*handler, error) {
	sub, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}
	h := &handler{files: map[string]file{}}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := path.Ext(p)
		if strings.HasSuffix(p, "README.md") || p == "vendor/uplot-1.6.32/LICENSE" {
			// Documentation for people reading the source; served as text
			// so the licence travels with the file it covers.
			ext = ".txt"
		}
		ct, ok := contentTypes[ext]
		if ext == ".txt" {
			ct, ok = "text/plain; charset=utf-8", true
		}
		if !ok {
			return fmt.Errorf("%s: no content type for %q", p, ext)
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		sum := sha256.Sum256(b)
		h.files["/"+p] = file{
			body:        b,
			contentType: ct,
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
			immutable:   strings.HasPrefix(p, "vendor/"),
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	idx, ok := h.files["/index.html"]
	if !ok {
		return nil, fmt.Errorf("no index.html")
	}
	h.files["/"] = idx
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	f, ok := h.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.contentType)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("ETag", f.etag)
	if f.immutable {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	if f.contentType == contentTypes[".html"] {
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("Referrer-Policy", "no-referrer")
	}
	// ServeContent answers If-None-Match with 304 and handles HEAD and
	// ranges; the zero modtime leaves Last-Modified out.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
