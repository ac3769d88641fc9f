package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chairside/chairside/internal/childproc"
	"github.com/chairside/chairside/monitor/mqttlink"
	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
	"github.com/chairside/chairside/monitor/station/page/pagetest"
	"github.com/chairside/chairside/monitor/station/web"
)

// e2eOfflineAfter is the station's offline_after in the end-to-end test
// (the shortest the config allows).
const e2eOfflineAfter = 11 * time.Second

// TestStationEndToEnd runs the real binaries: mosquitto, vitalsim emulating
// a Nonin and a SunTech on ptys for two chairs, a chairside daemon per
// chair, and the station, and drives its page in Debian's chromium, two
// nurses at two desks (two browser contexts), in the order a shift meets
// them. Screenshots go to $CHAIRSIDE_ARTIFACTS/TestStationEndToEnd (or a
// kept temp dir).
func TestStationEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: every binary and a browser for about a minute")
	}
	brokertest.NeedMosquitto(t)
	nurse := pagetest.New(t) // skips without chromium
	m := brokertest.StartMosquitto(t)
	dir := t.TempDir()
	bin := buildBinaries(t, dir)
	rec := newMQTTRecorder(t, m.PlainURL())

	// The chairs: chair-01 desaturates and stays low, chair-02 is calm.
	// The Nonins speak DF8 (one frame a second): DF2 over these ptys was
	// seen to lose its packet sync on a loaded machine (reported).
	protocol := filepath.Join(dir, "protocol.toml")
	shipped, err := os.ReadFile("../../configs/ketamine-iv.toml")
	if err != nil {
		t.Fatal(err)
	}
	quick := bytes.Replace(shipped, []byte(`auto_start_after = "30s"`), []byte(`auto_start_after = "3s"`), 1)
	if bytes.Equal(quick, shipped) {
		t.Fatal("the shipped protocol's auto_start_after is no longer 30s: update this test")
	}
	os.WriteFile(protocol, quick, 0o600)
	scenarios := map[string]string{"chair-01": "testdata/desat-hold.toml", "chair-02": "../../configs/scenarios/calm.toml"}
	daemons := map[string]*exec.Cmd{}
	for _, id := range []string{"chair-01", "chair-02"} {
		cdir := filepath.Join(dir, id)
		os.MkdirAll(cdir, 0o700)
		scen, _ := filepath.Abs(scenarios[id])
		startPart(t, cdir, "vitalsim", filepath.Join(bin, "vitalsim"), "-scenario", scen,
			"-nonin", "pty:"+filepath.Join(cdir, "nonin"), "-nonin-format", "8", "-suntech", "pty:"+filepath.Join(cdir, "suntech"))
		waitFiles(t, filepath.Join(cdir, "nonin"), filepath.Join(cdir, "suntech"))
		cfg := filepath.Join(cdir, "chairside.toml")
		os.WriteFile(cfg, []byte(fmt.Sprintf(`chair = %q
protocol = %q
[mqtt]
broker = %q
keepalive = "10s"
[store]
dir = "store"
[[sensor]]
driver = "nonin"
port = "nonin"
format = 8
stale_after = "10s"
[[sensor]]
driver = "suntech"
port = "suntech"
stale_after = "30s"
[annunciator]
kind = "none"
[commands]
remote = ["ack", "nibp_now", "mark", "session_start", "infusion_start", "infusion_end", "session_end"]
max_age = "30s"
`, id, protocol, m.PlainURL())), 0o600)
		daemons[id] = startPart(t, cdir, "chairside", filepath.Join(bin, "chairside"), "-config", cfg)
	}

	// The station.
	sdir := filepath.Join(dir, "station")
	os.MkdirAll(sdir, 0o700)
	if err := web.SetUser(filepath.Join(sdir, "users"), "ann", "correct horse"); err != nil {
		t.Fatal(err)
	}
	port := brokertest.FreePorts(t, 1)[0]
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	scfg := filepath.Join(sdir, "station.toml")
	os.WriteFile(scfg, []byte(fmt.Sprintf(`name = "desk-1"
listen = "127.0.0.1:%d"
store_dir = "store"
users_file = "users"
offline_after = %q
[mqtt]
broker = %q
`, port, e2eOfflineAfter, m.PlainURL())), 0o600)
	stationProc := startPart(t, sdir, "station", filepath.Join(bin, "station"), "-config", scfg)
	waitHTTP(t, url+"/healthz")

	other := nurse.Tab(true) // a second desk: its own cookies, not signed in
	nurse.Do(chromedp.Navigate(url + "/"))
	other.Do(chromedp.Navigate(url + "/"))
	fresh := func(sel string) string {
		return fmt.Sprintf(`(() => { const e = document.querySelector(%s); return !!e && /^\d+$/.test(e.textContent) && !e.classList.contains("stale"); })()`, pagetest.Q(sel))
	}

	t.Run("values appear", func(t *testing.T) {
		nurse.T = t
		for _, id := range []string{"chair-01", "chair-02"} {
			nurse.Wait(id+" SpO2 and pulse current", fresh(pagetest.TileSel(id, `[data-param="spo2"]`))+" && "+fresh(pagetest.TileSel(id, `[data-param="pulse"]`)), 20*time.Second)
		}
		nurse.Wait("chair-02 in a session", pagetest.TextOf(pagetest.TileSel("chair-02", ".phase"))+` === "Baseline"`, 10*time.Second)
		nurse.Shot("01-values")
		nurse.NoExceptions()
	})

	alarmID := ""
	t.Run("desaturation: red, flashing, SpO2 < 88 within 2 s of the chair's message", func(t *testing.T) {
		nurse.T = t
		// The page stamps the moment its tile first shows the alarm.
		pagetest.Eval[bool](nurse, `(() => { window.__highAt = 0; const tick = () => {
			const tile = document.querySelector('[data-chair="chair-01"]');
			const a = tile && tile.querySelector('[data-priority="high"][data-condition="spo2_low"]');
			if (a && tile.classList.contains("p-high") && tile.classList.contains("flash-high") && /SpO2 .*< 88/.test(a.textContent)) { window.__highAt = performance.timeOrigin + performance.now(); return; }
			requestAnimationFrame(tick); }; setTimeout(tick, 0); return true; })()`)
		msg := rec.wait(t, "chair-01's high spo2_low alarm message", 40*time.Second, func(m mqttMsg) bool {
			return m.Topic == "chairside/chair-01/alarm" && m.Body["condition"] == "spo2_low" && m.Body["priority"] == "high"
		})
		alarmID, _ = msg.Body["id"].(string)
		nurse.Wait("the page shows it", `window.__highAt > 0`, 5*time.Second)
		shown := time.UnixMicro(int64(pagetest.Eval[float64](nurse, `window.__highAt`) * 1000))
		lag := shown.Sub(msg.At)
		t.Logf("chair's alarm message %q → red flashing tile: %v", msg.Body["message"], lag)
		if lag > 2*time.Second {
			t.Errorf("the page showed the high alarm %v after the chair's message, want within 2 s", lag)
		}
		anim := pagetest.Eval[string](nurse, `(() => { const s = getComputedStyle(document.querySelector('[data-chair="chair-01"]')); return s.animationName + " " + s.animationDuration + " " + s.borderTopColor; })()`)
		if anim != "flash-high 0.5s rgb(224, 22, 27)" {
			t.Errorf("chair-01 tile %q, want flash-high 0.5s (2 Hz) in red", anim)
		}
		text := pagetest.Eval[string](nurse, pagetest.TextOf(pagetest.TileSel("chair-01", fmt.Sprintf(`[data-alarm=%s]`, pagetest.Q(alarmID)))))
		for _, want := range []string{"***", "HIGH", "< 88"} {
			if !strings.Contains(text, want) {
				t.Errorf("alarm text %q lacks %q", text, want)
			}
		}
		other.Wait("the second page shows it too", fmt.Sprintf(`!!document.querySelector('#alarm-list [data-alarm=%s]')`, pagetest.Q(alarmID)), 3*time.Second)
		nurse.Shot("02-high-alarm")
	})
	if alarmID == "" {
		t.Fatal("no alarm to go on with")
	}
	ackBtn := fmt.Sprintf(`#alarm-list [data-alarm=%s] button.ack`, pagetest.Q(alarmID))

	t.Run("an unsigned user gets 401 and nothing is sent", func(t *testing.T) {
		other.T = t
		from := rec.count()
		other.Do(chromedp.Click(chromedp.CSS(ackBtn)))
		other.Wait("401 opens the sign-in form", `document.getElementById("signin").open && [...document.querySelectorAll("#replies div")].some(d => d.textContent.includes("not sent, sign in first"))`, 5*time.Second)
		other.Shot("03-unsigned-401")
		r, err := http.Post(url+"/api/chairs/chair-01/cmd", "application/json", strings.NewReader(`{"action":"ack","alarm":"*"}`))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("a command without a session: HTTP %d, want 401", r.StatusCode)
		}
		time.Sleep(time.Second)
		for _, m := range rec.since(from) {
			if strings.HasSuffix(m.Topic, "/cmd") {
				t.Errorf("a command reached the broker without sign-in: %s %v", m.Topic, m.Body)
			}
		}
		other.Do(chromedp.Click(chromedp.CSS("#signin-cancel")))
	})

	t.Run("a signed-in ack reaches the chair and shows acknowledged on the other page", func(t *testing.T) {
		nurse.T, other.T = t, t
		from := rec.count()
		nurse.Do(chromedp.Click(chromedp.CSS("#signin-open")),
			chromedp.SendKeys(chromedp.CSS("#signin-user"), "ann"),
			chromedp.SendKeys(chromedp.CSS("#signin-password"), "correct horse"),
			chromedp.Click(chromedp.CSS("#signin-submit")))
		nurse.Wait("signed in", `document.getElementById("user").textContent === "signed in: ann"`, 5*time.Second)
		nurse.Do(chromedp.Click(chromedp.CSS(ackBtn)))
		cmd := rec.waitFrom(t, from, "the ack on the chair's cmd topic", 5*time.Second, func(m mqttMsg) bool {
			return m.Topic == "chairside/chair-01/cmd" && m.Body["action"] == "ack"
		})
		if cmd.Body["by"] != "ann@desk-1" || cmd.Body["alarm"] != alarmID {
			t.Errorf("command %v, want an ack of %s by ann@desk-1", cmd.Body, alarmID)
		}
		rec.waitFrom(t, from, "the chair's ok reply", 5*time.Second, func(m mqttMsg) bool {
			return m.Topic == "chairside/chair-01/cmd/reply" && m.Body["id"] == cmd.Body["id"] && m.Body["ok"] == true
		})
		nurse.Wait("reply shown", `[...document.querySelectorAll("#replies div")].some(d => d.textContent.includes("chair-01: ack "))`, 5*time.Second)
		other.Wait("acknowledged on the second page, says who", fmt.Sprintf(`(() => { const a = document.querySelector('[data-chair="chair-01"] [data-alarm=%s]');
			return !!a && a.dataset.state === "acknowledged" && a.textContent.includes("acknowledged by ann@desk-1"); })()`, pagetest.Q(alarmID)), 3*time.Second)
		if pagetest.Eval[bool](other, `document.querySelector('[data-chair="chair-01"]').classList.contains("flash-high")`) {
			t.Error("an acknowledged alarm still flashes")
		}
		other.Shot("04-acknowledged-second-page")
	})

	t.Run("a killed chair shows chair_offline within offline_after + 2 s", func(t *testing.T) {
		nurse.T = t
		killed := time.Now()
		daemons["chair-02"].Process.Signal(syscall.SIGKILL)
		d := nurse.Wait("chair_offline on chair-02", `(() => { const a = document.querySelector('[data-chair="chair-02"] [data-condition="chair_offline"]'); return !!a && a.dataset.priority === "medium"; })()`, e2eOfflineAfter+2*time.Second)
		t.Logf("chair killed → chair_offline shown: %v", time.Since(killed))
		_ = d
		nurse.Wait("its values struck through", fmt.Sprintf(`document.querySelector(%s).classList.contains("stale")`, pagetest.Q(pagetest.TileSel("chair-02", `[data-param="spo2"]`))), 8*time.Second)
		nurse.Shot("05-chair-offline")
	})

	t.Run("a stopped broker shows station_link_down, once", func(t *testing.T) {
		nurse.T = t
		stopped := time.Now()
		m.Stop()
		nurse.Wait("broker DOWN", `document.getElementById("broker").textContent === "broker: DOWN"`, 3*time.Second)
		nurse.Wait("station_link_down", `!!document.querySelector('#station-alarms [data-condition="station_link_down"][data-priority="high"]')`, 10*time.Second)
		t.Logf("broker stopped → station_link_down shown: %v", time.Since(stopped))
		if n := pagetest.Eval[int](nurse, `document.querySelectorAll('[data-condition="station_link_down"]').length`); n != 1 {
			t.Errorf("station_link_down shown %d times, want once", n)
		}
		nurse.Wait("sounds high", `document.getElementById("sound").dataset.sounding === "high" || document.getElementById("sound").dataset.sound === "off"`, 2*time.Second)
		nurse.Shot("06-station-link-down")
	})

	t.Run("the page's watchdog fires when the station stops", func(t *testing.T) {
		nurse.T = t
		stationProc.Process.Signal(syscall.SIGTERM)
		stopped := time.Now()
		nurse.Wait("no connection to the station", `!document.getElementById("no-connection").hidden`, 13*time.Second)
		t.Logf("station stopped → watchdog screen: %v", time.Since(stopped))
		nurse.Shot("07-watchdog")
		nurse.NoExceptions()
	})
}

// buildBinaries builds station, chairside and vitalsim into dir/bin.
func buildBinaries(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	for _, p := range []string{".", "../chairside", "../vitalsim"} {
		name := filepath.Base(p)
		if p == "." {
			name = "station"
		}
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), p).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	return bin
}

// startPart runs a program in cdir with its log in cdir/<name>.log; it is
// killed at the end of the test, and its log's tail shown if the test failed.
func startPart(t *testing.T, cdir, name, bin string, args ...string) *exec.Cmd {
	t.Helper()
	logPath := filepath.Join(cdir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	childproc.DieWithParent(cmd, syscall.SIGKILL)
	cmd.Dir = cdir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(6 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			t.Logf("%s log (%s) ends:\n%s", name, cdir, b)
		}
	})
	return cmd
}

func waitFiles(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(p); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not made within 10 s", p)
			}
		}
	}
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r, err := http.Get(url); err == nil {
			r.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer within 10 s", url)
		}
	}
}

// mqttMsg is one message the test saw, with when it saw it.
type mqttMsg struct {
	Topic string
	Body  map[string]any
	At    time.Time
}

// mqttRecorder keeps every live message under chairside/ (not pleth).
type mqttRecorder struct {
	mu   sync.Mutex
	msgs []mqttMsg
}

func newMQTTRecorder(t *testing.T, broker string) *mqttRecorder {
	t.Helper()
	link, err := mqttlink.New(mqttlink.Config{Broker: broker, ClientID: "e2e-watcher", Keepalive: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := &mqttRecorder{}
	if err := link.Subscribe("chairside/#", 1, func(m mqttlink.Message) {
		if m.Retained || strings.HasSuffix(m.Topic, "/pleth") {
			return
		}
		at := time.Now()
		var body map[string]any
		json.Unmarshal(m.Payload, &body)
		r.mu.Lock()
		r.msgs = append(r.msgs, mqttMsg{Topic: m.Topic, Body: body, At: at})
		r.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { link.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !link.Up(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the test's MQTT client did not connect")
		}
	}
	return r
}

func (r *mqttRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *mqttRecorder) since(from int) []mqttMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mqttMsg(nil), r.msgs[from:]...)
}

func (r *mqttRecorder) wait(t *testing.T, what string, d time.Duration, ok func(mqttMsg) bool) mqttMsg {
	t.Helper()
	return r.waitFrom(t, 0, what, d, ok)
}

func (r *mqttRecorder) waitFrom(t *testing.T, from int, what string, d time.Duration, ok func(mqttMsg) bool) mqttMsg {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		for _, m := range r.since(from) {
			if ok(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}
