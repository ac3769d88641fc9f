// Package pagetest drives the station page in a headless Debian chromium
// with chromedp, for the page's own tests and the station's end-to-end
// tests against the real binaries.
package pagetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
)

// Browser is one headless Debian chromium with one tab. T is the test
// (or subtest) that failures go to; Ctx the tab, for chromedp calls of
// one's own.
type Browser struct {
	T         testing.TB
	Ctx       context.Context
	Artifacts string // where Shot writes

	mu         sync.Mutex
	exceptions []string
}

// New starts chromium, or skips when it is not installed (fails when
// CHAIRSIDE_REQUIRE names chromium, as CI sets). It ends with the test.
func New(t testing.TB) *Browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if _, e := os.Stat("/usr/bin/chromium"); e == nil {
			path, err = "/usr/bin/chromium", nil
		}
	}
	if err != nil {
		msg := "chromium not found: browser tests of the station page skipped (apt-get install chromium)"
		if brokertest.Required("chromium") {
			t.Fatal("CHAIRSIDE_REQUIRE=chromium but " + msg)
		}
		t.Skip(msg)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// As in a clinic's browser: sound only after a click.
		chromedp.Flag("autoplay-policy", "user-gesture-required"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1600, 1000),
		chromedp.Flag("enable-precise-memory-info", true),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := &Browser{T: t, Ctx: ctx, Artifacts: ArtifactDir(t)}
	b.watch(ctx)
	return b
}

// watch collects the exceptions a tab throws.
func (b *Browser) watch(ctx context.Context) {
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() {
				b.mu.Lock()
				b.exceptions = append(b.exceptions, m.String())
				b.mu.Unlock()
			}
		}
	}()
}

// Tab opens another tab: same browser context (cookies) unless isolated,
// then a fresh one (another nurse at another desk). Its exceptions count
// for NoExceptions too; it closes with the test.
func (b *Browser) Tab(isolated bool) *Browser {
	b.T.Helper()
	var opts []chromedp.ContextOption
	if isolated {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(b.Ctx, opts...)
	b.T.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.T.Fatalf("open a tab: %v", err)
	}
	nb := &Browser{T: b.T, Ctx: ctx, Artifacts: b.Artifacts}
	nb.watch(ctx)
	return nb
}

// ArtifactDir is $CHAIRSIDE_ARTIFACTS/<test>, or a temp dir kept after
// the test (its path is logged).
func ArtifactDir(t testing.TB) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	dir := os.Getenv("CHAIRSIDE_ARTIFACTS")
	var err error
	if dir != "" {
		dir = filepath.Join(dir, name)
		err = os.MkdirAll(dir, 0o755)
	} else {
		dir, err = os.MkdirTemp("", "chairside-"+name+"-")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// Do runs actions in the tab; an error fails the test.
func (b *Browser) Do(actions ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	if err := chromedp.Do(b.Ctx, actions...); err != nil {
		b.T.Fatalf("browser: %v", err)
	}
}

// Eval evaluates js in the tab; an error fails the test.
func Eval[T any](b *Browser, js string) T {
	b.T.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.T.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// Wait polls a JavaScript predicate until it holds; it fails the test with
// what (and a screenshot) when it does not within d. It returns how long
// it took.
func (b *Browser) Wait(what, js string, d time.Duration) time.Duration {
	b.T.Helper()
	start := time.Now()
	_, err := chromedp.Run(b.Ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		b.Shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.T.Fatalf("%s: not within %v (%v)", what, d, err)
	}
	return time.Since(start)
}

// Shot saves a screenshot as <Artifacts>/<name>.png.
func (b *Browser) Shot(name string) {
	png, err := chromedp.Run(b.Ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.T.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(b.Artifacts, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.T.Logf("screenshot %s: %v", name, err)
	}
}

// NoExceptions fails the test if the page threw.
func (b *Browser) NoExceptions() {
	b.T.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.exceptions) > 0 {
		b.T.Fatalf("the page threw: %s", strings.Join(b.exceptions, "\n"))
	}
}

// Q quotes s for JavaScript.
func Q(s string) string { return fmt.Sprintf("%q", s) }

// TileSel selects inside one chair's tile (data-chair).
func TileSel(chair, inner string) string {
	return fmt.Sprintf(`[data-chair=%s] %s`, Q(chair), inner)
}

// TextOf is JavaScript for the text of the first element sel selects
// (null when none).
func TextOf(sel string) string {
	return fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? null)`, Q(sel))
}
