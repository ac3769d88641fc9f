package page

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chairside/chairside/monitor/station"
	"github.com/chairside/chairside/monitor/station/page/pagetest"
	"github.com/chairside/chairside/monitor/station/web"
	"github.com/chairside/chairside/monitor/wire"
)

// TestPageInBrowser drives the page in headless chromium against the fake
// station, one nurse's view after another, in the order a shift sees them.
func TestPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	f := newFakeStation(t, "testdata/chairs.json")
	b := pagetest.New(t)
	b.Do(chromedp.Navigate(f.srv.URL + "/"))

	t.Run("values appear in data-param", func(t *testing.T) {
		b.T = t
		b.Wait("chair-01 SpO2 97", pagetest.TextOf(pagetest.TileSel("chair-01", `[data-param="spo2"]`))+` === "97"`, 5*time.Second)
		for sel, want := range map[string]string{
			pagetest.TileSel("chair-01", `[data-param="pulse"]`): "74",
			pagetest.TileSel("chair-01", `[data-param="nibp"]`):  "128/82 (97)",
			pagetest.TileSel("chair-02", `[data-param="spo2"]`):  "91",
			pagetest.TileSel("chair-01", `.phase`):               "Infusion",
			pagetest.TileSel("chair-03", `[data-param="nibp"]`):  "—", // null: shown as missing
			pagetest.TileSel("chair-03", `[data-param="pulse"]`): "—",
			pagetest.TileSel("chair-03", `[data-param="spo2"]`):  "—", // "97" as a string is not a number
		} {
			if got := pagetest.Eval[string](b, pagetest.TextOf(sel)); got != want {
				t.Errorf("%s = %q, want %q", sel, got, want)
			}
		}
		timer := pagetest.Eval[string](b, pagetest.TextOf(pagetest.TileSel("chair-01", ".timer")))
		if !strings.HasPrefix(timer, "23:1") || !strings.HasSuffix(timer, " / 40:00") {
			t.Errorf("chair-01 timer %q, want 23:1x / 40:00", timer)
		}
		if got := pagetest.Eval[string](b, pagetest.TextOf(pagetest.TileSel("chair-02", ".timer"))); strings.Contains(got, "/") || !strings.HasPrefix(got, "8:") {
			t.Errorf("chair-02 timer %q: no phase_planned, so elapsed only (8:xx)", got)
		}
		if got := pagetest.Eval[string](b, pagetest.TextOf(pagetest.TileSel("chair-01", ".nibp .age"))); !strings.HasPrefix(got, "4 min ago") {
			t.Errorf("NIBP age %q, want 4 min ago", got)
		}
		if got := pagetest.Eval[string](b, pagetest.TextOf(pagetest.TileSel("chair-01", ".nibp .next"))); !strings.HasPrefix(got, "next ") || !strings.Contains(got, "(in 0:") {
			t.Errorf("next cuff %q, want next HH:MM (in 0:xx)", got)
		}
		if got := pagetest.Eval[string](b, pagetest.TextOf(pagetest.TileSel("chair-02", ".badges"))); !strings.Contains(got, "SIMULATED") || !strings.Contains(got, "UNCALIBRATED") {
			t.Errorf("chair-02 badges %q, want SIMULATED and UNCALIBRATED", got)
		}
		if got := pagetest.Eval[string](b, pagetest.TextOf(pagetest.TileSel("chair-01", ".badges"))); got != "" {
			t.Errorf("chair-01 (nonin) badges %q, want none", got)
		}
		if got := pagetest.Eval[string](b, pagetest.TextOf(pagetest.TileSel("chair-03", ".link"))); !strings.HasPrefix(got, "OFFLINE") {
			t.Errorf("chair-03 link %q, want OFFLINE", got)
		}
		if anim := pagetest.Eval[string](b, `(() => { const s = getComputedStyle(document.querySelector('[data-chair="chair-02"]')); return s.animationName + " " + s.animationDuration + " " + s.borderTopColor; })()`); anim != "flash-medium 2s rgb(242, 194, 0)" {
			t.Errorf("chair-02 (medium active) tile animation %q, want flash-medium 2s (0.5 Hz) in yellow", anim)
		}
		b.Wait("sparklines drawn", `document.querySelectorAll("#grid .spark canvas").length === 3`, 10*time.Second)
		b.Shot("01-grid")
		b.NoExceptions()
	})

	t.Run("sound banner until a click", func(t *testing.T) {
		b.T = t
		if !pagetest.Eval[bool](b, `!document.getElementById("sound-banner").hidden && document.getElementById("sound").dataset.sound === "off"`) {
			t.Fatal("no sound banner, or sound not shown OFF, before any click")
		}
		if got := pagetest.Eval[string](b, pagetest.TextOf("#sound")); got != "Sound OFF" {
			t.Errorf("sound button %q before a click", got)
		}
		b.Do(chromedp.Click(chromedp.CSS("#alarm-panel h2")))
		b.Wait("banner gone after a click", `document.getElementById("sound-banner").hidden && document.getElementById("sound").dataset.sound === "on"`, 3*time.Second)
		// chair-02's medium alarm and chair-03's offline condition sound.
		b.Wait("medium sounds", `document.getElementById("sound").dataset.sounding === "medium"`, 2*time.Second)
	})

	t.Run("hostile strings stay text", func(t *testing.T) {
		b.T = t
		if got := pagetest.Eval[string](b, `String(window.__pwned)`); got != "undefined" {
			t.Fatalf("a payload string ran as markup: window.__pwned = %q", got)
		}
		if n := pagetest.Eval[int](b, `document.querySelectorAll("#grid img, #grid script, #grid svg, #alarm-list img, #grid b, #grid i").length`); n != 0 {
			t.Errorf("%d elements made from payload strings", n)
		}
		msg := pagetest.Eval[string](b, pagetest.TextOf(pagetest.TileSel("chair-03", `[data-condition^="<img"] .msg`)))
		if msg != `<img src=x onerror="window.__pwned='message'">` {
			t.Errorf("hostile message shown as %q, want the text itself", msg)
		}
		if got := pagetest.Eval[string](b, pagetest.TextOf(pagetest.TileSel("chair-03", ".phase"))); !strings.HasPrefix(got, "<img") {
			t.Errorf("hostile phase shown as %q", got)
		}
		st := pagetest.Eval[string](b, pagetest.TextOf(pagetest.TileSel("chair-03", `[data-condition="chair_offline"] .msg`)))
		if !strings.Contains(st, "<img src=x") {
			t.Errorf("station condition text %q", st)
		}
		// Malformed events are dropped or shown as missing; the page goes on.
		f.sendRaw("chair", "{not json")
		f.sendRaw("heartbeat", "<b>")
		f.send("chair", []any{1, 2})
		f.send("chair", map[string]any{"chair": 5})
		f.send("chair", map[string]any{"chair": ""})
		f.send("chair", map[string]any{"chair": "chair-02", "online": "yes", "alarms": "x", "station_alarms": []any{nil, 3, map[string]any{"priority": "high"}},
			"spo2": []any{}, "pulse": map[string]any{"value": 10, "t": 17}, "nibp": map[string]any{"systolic": "128", "diastolic": 82}, "session": "str"})
		sp := pagetest.TileSel("chair-02", `[data-param="spo2"]`)
		b.Wait("garbled chair-02 shown as missing", pagetest.TextOf(sp)+` === "—" && `+pagetest.TextOf(pagetest.TileSel("chair-02", `[data-param="nibp"]`))+` === "—"`, 2*time.Second)
		pu := pagetest.TileSel("chair-02", `[data-param="pulse"]`)
		if got := pagetest.Eval[string](b, pagetest.TextOf(pu)); got != "10" || !pagetest.Eval[bool](b, fmt.Sprintf(`document.querySelector(%s).classList.contains("stale")`, pagetest.Q(pu))) {
			t.Errorf("pulse 10 whose time is not a time shown as %q, want 10 struck through as not current", got)
		}
		if got := pagetest.Eval[string](b, fmt.Sprintf(`document.querySelector(%s)?.dataset.priority ?? "none"`, pagetest.Q(pagetest.TileSel("chair-02", `[data-condition="unknown"]`)))); got != "high" {
			t.Errorf("a station condition without a known shape shows priority %q, want high (never hidden)", got)
		}
		if n := pagetest.Eval[int](b, `document.querySelectorAll("#grid [data-chair]").length`); n != 3 {
			t.Errorf("%d tiles after malformed events, want 3 (none made from bad ids)", n)
		}
		f.update("chair-02", func(map[string]any) {}) // back to its real state
		b.Wait("chair-02 back", pagetest.TextOf(sp)+` === "91"`, 2*time.Second)
		time.Sleep(200 * time.Millisecond)
		b.NoExceptions()
	})

	t.Run("stale values struck through", func(t *testing.T) {
		b.T = t
		now := time.Now()
		f.update("chair-01", func(c map[string]any) {
			c["spo2"] = vital(t, "spo2", fp(96), now)
			c["pulse"] = vital(t, "pulse", fp(75), now.Add(-20*time.Second))
		})
		sp, pu := pagetest.TileSel("chair-01", `[data-param="spo2"]`), pagetest.TileSel("chair-01", `[data-param="pulse"]`)
		b.Wait("fresh SpO2 96", pagetest.TextOf(sp)+` === "96"`, 2*time.Second)
		if pagetest.Eval[bool](b, fmt.Sprintf(`document.querySelector(%s).classList.contains("stale")`, pagetest.Q(sp))) {
			t.Error("a reading of now is shown stale")
		}
		if !pagetest.Eval[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e.classList.contains("stale") && getComputedStyle(e).textDecorationLine === "line-through"; })()`, pagetest.Q(pu))) {
			t.Error("a pulse reading 20 s old is not struck through")
		}
		// No new reading: the fresh value must go stale by itself.
		d := b.Wait("SpO2 stale after 5 s without a reading", fmt.Sprintf(`document.querySelector(%s).classList.contains("stale")`, pagetest.Q(sp)), 8*time.Second)
		if d < 3*time.Second {
			t.Errorf("SpO2 went stale after %v, before 5 s", d)
		}
		f.update("chair-02", func(c map[string]any) {
			c["spo2"] = vital(t, "spo2", nil, time.Now(), "probe_off")
		})
		sp2 := pagetest.TileSel("chair-02", `[data-param="spo2"]`)
		b.Wait("probe off shows —", pagetest.TextOf(sp2)+` === "—" && document.querySelector(`+pagetest.Q(sp2)+`).classList.contains("stale")`, 2*time.Second)
		if got := pagetest.Eval[string](b, pagetest.TextOf(pagetest.TileSel("chair-02", ".spo2 .why"))); !strings.Contains(got, "probe_off") {
			t.Errorf("why %q, want probe_off", got)
		}
		b.Shot("02-stale")
	})

	highSel := `[data-chair="chair-01"] [data-alarm="a-3-17"]`
	t.Run("high alarm: red, flashing, *** and the message within 2 s", func(t *testing.T) {
		b.T = t
		started := time.Now()
		f.update("chair-01", func(c map[string]any) {
			c["spo2"] = vital(t, "spo2", fp(86), time.Now())
			c["alarms"] = []any{alarm(t, "a-3-17", "spo2_low", "high", "active", 86, 88, "SpO2 86 < 88", nil, started)}
		})
		d := b.Wait("tile red and flashing", `(() => {
			const tile = document.querySelector('[data-chair="chair-01"]');
			const a = tile.querySelector('[data-alarm="a-3-17"]');
			return tile.classList.contains("p-high") && tile.classList.contains("flash-high") && a && a.dataset.priority === "high" && a.dataset.state === "active" && a.dataset.condition === "spo2_low";
		})()`, 2*time.Second)
		t.Logf("event to red flashing tile: %v", d)
		anim := pagetest.Eval[string](b, `(() => { const s = getComputedStyle(document.querySelector('[data-chair="chair-01"]')); return s.animationName + " " + s.animationDuration; })()`)
		if anim != "flash-high 0.5s" {
			t.Errorf("tile animation %q, want flash-high 0.5s (2 Hz)", anim)
		}
		border := pagetest.Eval[string](b, `getComputedStyle(document.querySelector('[data-chair="chair-01"]')).borderTopColor`)
		if border != "rgb(224, 22, 27)" {
			t.Errorf("tile border %q, want the high red", border)
		}
		text := pagetest.Eval[string](b, pagetest.TextOf(highSel))
		for _, want := range []string{"***", "HIGH", "SpO2 86 < 88", "active"} {
			if !strings.Contains(text, want) {
				t.Errorf("alarm text %q lacks %q", text, want)
			}
		}
		// The list across chairs: highest first.
		prios := pagetest.Eval[[]string](b, `[...document.querySelectorAll("#alarm-list [data-alarm]")].map(e => e.dataset.priority)`)
		rank := map[string]int{"high": 3, "medium": 2, "low": 1}
		if len(prios) < 3 || prios[0] != "high" {
			t.Errorf("alarm list priorities %v, want the high one first", prios)
		}
		for i := 1; i < len(prios); i++ {
			if rank[prios[i]] > rank[prios[i-1]] {
				t.Errorf("alarm list not highest first: %v", prios)
			}
		}
		b.Wait("high sounds", `document.getElementById("sound").dataset.sounding === "high"`, 2*time.Second)
		b.Shot("03-high-alarm")
	})

	t.Run("sign in, acknowledge, acked stops flashing and says who", func(t *testing.T) {
		b.T = t
		ackBtn := `#alarm-list [data-alarm="a-3-17"] button.ack`
		b.Do(chromedp.Click(chromedp.CSS(ackBtn)))
		b.Wait("401 asks to sign in", `document.getElementById("signin").open`, 3*time.Second)
		if n := len(f.commands()); n != 0 {
			t.Fatalf("%d commands accepted without sign-in", n)
		}
		b.Shot("04-signin")
		b.Do(chromedp.SendKeys(chromedp.CSS("#signin-user"), testUser),
			chromedp.SendKeys(chromedp.CSS("#signin-password"), testPassword),
			chromedp.Click(chromedp.CSS("#signin-submit")))
		b.Wait("signed in", `!document.getElementById("signin").open && document.getElementById("user").textContent === "signed in: ann"`, 3*time.Second)
		f.mu.Lock()
		si := f.signins[len(f.signins)-1]
		f.mu.Unlock()
		if si["user"] != testUser || si["password"] != testPassword || len(si) != 2 {
			t.Errorf("sign-in body %v", si)
		}
		// Who is signed in is the station's word (/api/me), not the tab's: a
		// second tab with the same cookie says so too.
		tab := b.Tab(false)
		tab.Do(chromedp.Navigate(f.srv.URL + "/"))
		tab.Wait("a second tab shows the signed-in user from /api/me", `document.getElementById("user").textContent === "signed in: ann"`, 5*time.Second)
		b.Do(chromedp.Click(chromedp.CSS(ackBtn)))
		b.Wait("ack reply shown", `[...document.querySelectorAll("#replies div")].some(d => d.textContent.includes("chair-01: ack a-3-17: done"))`, 3*time.Second)
		cmds := f.commands()
		if len(cmds) != 1 || cmds[0].Chair != "chair-01" || cmds[0].Body["action"] != "ack" || cmds[0].Body["alarm"] != "a-3-17" || len(cmds[0].Body) != 2 {
			t.Fatalf("commands %+v, want one ack of a-3-17 on chair-01", cmds)
		}
		// The chair's acknowledged state comes back as an event.
		by := "ann@desk-1"
		f.update("chair-01", func(c map[string]any) {
			c["alarms"] = []any{alarm(t, "a-3-17", "spo2_low", "high", "acknowledged", 86, 88, "SpO2 86 < 88", &by, time.Now().Add(-5*time.Second))}
		})
		b.Wait("acked: steady red", `(() => {
			const tile = document.querySelector('[data-chair="chair-01"]');
			const a = tile.querySelector('[data-alarm="a-3-17"]');
			return a && a.dataset.state === "acknowledged" && tile.classList.contains("p-high") && !tile.classList.contains("flash-high") && getComputedStyle(tile).animationName === "none";
		})()`, 2*time.Second)
		if got := pagetest.Eval[string](b, pagetest.TextOf(highSel+" .state")); !strings.HasPrefix(got, "acknowledged by ann@desk-1 at ") {
			t.Errorf("acked text %q, want who and when", got)
		}
		if got := pagetest.Eval[string](b, `document.getElementById("sound").dataset.sounding`); got != "medium" {
			t.Errorf("after the ack the page sounds %q, want medium (chair-02 still active)", got)
		}
		b.Shot("05-acknowledged")
	})

	t.Run("2-minute page pause silences, a higher priority breaks through", func(t *testing.T) {
		b.T = t
		b.Do(chromedp.Click(chromedp.CSS("#pause")))
		b.Wait("paused", `document.getElementById("sound").dataset.sound === "paused" && document.getElementById("sound").dataset.sounding === "none"`, 2*time.Second)
		if got := pagetest.Eval[string](b, pagetest.TextOf("#sound")); !strings.HasPrefix(got, "Sound PAUSED 1:5") && got != "Sound PAUSED 2:00" {
			t.Errorf("sound state %q, want a visible pause countdown from 2:00", got)
		}
		if !pagetest.Eval[bool](b, `!document.getElementById("sound-banner").hidden === false`) {
			t.Error("the sound-off banner came back during a pause")
		}
		// The latched high alarm below (higher than the medium paused) sounds at once.
	})

	t.Run("latched differs from active", func(t *testing.T) {
		b.T = t
		f.update("chair-01", func(c map[string]any) {
			c["alarms"] = []any{alarm(t, "a-3-17", "spo2_low", "high", "latched", 86, 88, "SpO2 86 < 88", nil, time.Now().Add(-30*time.Second))}
		})
		b.Wait("latched", fmt.Sprintf(`document.querySelector(%s)?.dataset.state === "latched"`, pagetest.Q(highSel)), 2*time.Second)
		look := pagetest.Eval[string](b, fmt.Sprintf(`(() => { const s = getComputedStyle(document.querySelector(%s)); return s.outlineStyle + " " + s.borderLeftStyle; })()`, pagetest.Q(highSel)))
		if look != "dashed double" {
			t.Errorf("latched alarm looks %q, want dashed outline and double border", look)
		}
		if !strings.Contains(pagetest.Eval[string](b, pagetest.TextOf(highSel)), "LATCHED") {
			t.Error("latched alarm does not say LATCHED")
		}
		if !pagetest.Eval[bool](b, `document.querySelector('[data-chair="chair-01"]').classList.contains("flash-high")`) {
			t.Error("a latched high alarm must still flash (it waits for an ack)")
		}
		b.Wait("latched high sounds through the page pause", `document.getElementById("sound").dataset.sounding === "high" && document.getElementById("sound").dataset.sound === "paused"`, 2*time.Second)
		b.Shot("06-latched")
	})

	t.Run("gate override names the user", func(t *testing.T) {
		b.T = t
		f.update("chair-02", func(c map[string]any) {
			gate := alarm(t, "a-1-9", "baseline_bp_above_gate", "low", "active", 150, 140, "baseline BP 150/85 is at or above the gate 140/90: infusion_start needs an override", nil, time.Now())
			c["alarms"] = append(c["alarms"].([]any), gate)
		})
		b.Wait("gate alarm shown", `!!document.querySelector('[data-chair="chair-02"] [data-condition="baseline_bp_above_gate"]')`, 2*time.Second)
		b.Do(chromedp.Navigate(f.srv.URL + "/#chair=chair-02"))
		b.Wait("detail open", `!document.getElementById("detail").hidden && document.getElementById("detail-title").textContent === "chair-02"`, 5*time.Second)
		b.Wait("chair-02 gate known after reload", `!!document.querySelector('[data-chair="chair-02"] [data-condition="baseline_bp_above_gate"]')`, 5*time.Second)
		b.Do(chromedp.Click(chromedp.CSS(`#detail-actions [data-action="infusion_start"]`)))
		b.Wait("confirmation", `document.getElementById("confirm").open`, 2*time.Second)
		if got := pagetest.Eval[string](b, pagetest.TextOf("#confirm-text")); !strings.Contains(got, "recorded under ann") || !strings.Contains(got, "150/85") {
			t.Errorf("confirmation %q, want the reason and the user", got)
		}
		b.Shot("07-gate-confirm")
		b.Do(chromedp.Click(chromedp.CSS("#confirm-yes")))
		b.Wait("reply in detail", `document.getElementById("detail-reply").textContent.includes("infusion start: done")`, 3*time.Second)
		cmds := f.commands()
		last := cmds[len(cmds)-1]
		if last.Chair != "chair-02" || last.Body["action"] != "infusion_start" || last.Body["override"] != true {
			t.Errorf("last command %+v, want infusion_start with override true", last)
		}
		// A refused command shows the chair's reason.
		f.mu.Lock()
		f.reply = func(string, map[string]any) (int, map[string]any) {
			return 200, map[string]any{"v": 1, "id": "r-2", "ok": false, "error": "no NIBP module <b>configured</b>"}
		}
		f.mu.Unlock()
		b.Do(chromedp.Click(chromedp.CSS(`#detail-actions [data-action="nibp_now"]`)))
		b.Wait("refusal shown", `document.getElementById("detail-reply").textContent === "nibp now: refused by the chair: no NIBP module <b>configured</b>"`, 3*time.Second)
	})

	t.Run("detail view: trends and alarm history", func(t *testing.T) {
		b.T = t
		f.mu.Lock()
		f.history["chair-01"] = []any{
			alarm(t, "a-3-17", "spo2_low", "high", "active", 86, 88, "SpO2 86 < 88", nil, time.Now().Add(-2*time.Minute)),
			alarm(t, "a-3-17", "spo2_low", "high", "acknowledged", 86, 88, "SpO2 86 < 88", strp("ann@desk-1"), time.Now().Add(-2*time.Minute)),
			alarm(t, "a-3-17", "spo2_low", "high", "latched", 86, 88, "SpO2 86 < 88", nil, time.Now().Add(-2*time.Minute)),
		}
		f.mu.Unlock()
		// The session summary, as the chair publishes it (monitor/wire's golden file).
		raw, err := os.ReadFile("../../wire/testdata/golden/session_summary.json")
		if err != nil {
			t.Fatal(err)
		}
		var summary map[string]any
		if err := json.Unmarshal(raw, &summary); err != nil {
			t.Fatal(err)
		}
		f.update("chair-01", func(c map[string]any) { c["summary"] = summary })
		b.Do(chromedp.Navigate(f.srv.URL + "/#chair=chair-01"))
		b.Wait("history rows", `document.querySelectorAll("#detail-history tbody tr").length === 3`, 5*time.Second)
		sum := pagetest.Eval[string](b, pagetest.TextOf("#detail-summary"))
		for _, want := range []string{"Infusion41:00", "SpO2 min / median86 / 97 %", "NIBP max151/94 (14 readings)", "spo2_low/high: 1", "not met: pulse 105 is 30 from baseline 75 (within 20)", "Gate overridden byann@desk-1"} {
			if !strings.Contains(sum, want) {
				t.Errorf("summary %q lacks %q", sum, want)
			}
		}
		if got := pagetest.Eval[string](b, pagetest.TextOf("#detail-marks")); !strings.Contains(got, "cuff moved to the left arm (ann@desk-1)") {
			t.Errorf("marks %q", got)
		}
		b.Wait("trend chart", `!!document.querySelector("#detail-chart canvas")`, 5*time.Second)
		states := pagetest.Eval[[]string](b, `[...document.querySelectorAll("#detail-history tbody tr td:nth-child(5)")].map(e => e.textContent)`)
		if strings.Join(states, ",") != "latched,acknowledged,active" {
			t.Errorf("history states %v, want newest first: latched, acknowledged, active", states)
		}
		b.Do(chromedp.Click(chromedp.CSS(`#detail [data-window="session"]`)))
		b.Wait("session window", `document.querySelector('#detail [data-window="session"]').classList.contains("on")`, 2*time.Second)
		time.Sleep(500 * time.Millisecond)
		b.Shot("08-detail")
		if !pagetest.Eval[bool](b, `document.getElementById("alarm-panel").getBoundingClientRect().width > 0 && document.querySelectorAll("#alarm-list [data-alarm]").length > 0`) {
			t.Error("the alarm list across chairs is not in view beside the detail")
		}
		b.Do(chromedp.Navigate(f.srv.URL + "/#chair=chair-99"))
		b.Wait("unknown chair said", `document.getElementById("detail-title").textContent === "chair-99: not seen by this station"`, 3*time.Second)
		if n := pagetest.Eval[int](b, `document.querySelectorAll('[data-chair="chair-99"]').length`); n != 0 {
			t.Error("a typed address made up a tile for a chair nobody has seen")
		}
		b.Do(chromedp.Navigate(f.srv.URL + "/#"))
		b.Wait("grid back", `document.getElementById("detail").hidden && !document.getElementById("grid").hidden`, 3*time.Second)
		b.NoExceptions()
	})

	t.Run("after a stream break the page catches up", func(t *testing.T) {
		b.T = t
		f.dropStreams()
		by := "bob@desk-2"
		f.quietly("chair-01", func(c map[string]any) {
			c["alarms"] = []any{alarm(t, "a-3-17", "spo2_low", "high", "acknowledged", 86, 88, "SpO2 86 < 88", &by, time.Now().Add(-time.Minute))}
		})
		b.Wait("missed ack shown after reconnect", fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? "").includes("acknowledged by bob@desk-2")`, pagetest.Q(highSel)), 5*time.Second)
		if f.clientCount() != 1 {
			t.Errorf("%d event streams open after the reconnect, want 1", f.clientCount())
		}
	})

	t.Run("station without broker: station_link_down once", func(t *testing.T) {
		b.T = t
		// As the real server: broker_connected goes false at once; after 5 s
		// station_link_down is in the station object and on every chair.
		f.sendStation(web.StationInfo{Name: "desk-1", BrokerConnected: false, Alarms: []station.StationAlarm{}})
		b.Wait("broker DOWN shown", `document.getElementById("broker").textContent === "broker: DOWN"`, 2*time.Second)
		if n := pagetest.Eval[int](b, `document.querySelectorAll("[data-condition=station_link_down]").length`); n != 0 {
			t.Errorf("%d station_link_down shown before the station raises it", n)
		}
		since := time.Now()
		msg := "the station cannot reach the broker: no chair can be seen; connection refused"
		link := func(id string) station.StationAlarm {
			return station.StationAlarm{ID: id, Condition: station.CondLinkDown, Priority: "high", Kind: wire.KindTechnical, Since: wire.At(since), Message: msg}
		}
		for _, id := range []string{"chair-01", "chair-02", "chair-03"} {
			f.update(id, func(c map[string]any) {
				list, _ := c["station_alarms"].([]any)
				c["station_alarms"] = append(list, asMap(t, link(fmt.Sprintf("st-station_link_down-%s-%d", id, since.UnixMilli()))))
			})
		}
		f.sendStation(web.StationInfo{Name: "desk-1", BrokerConnected: false, Alarms: []station.StationAlarm{link(fmt.Sprintf("st-station_link_down-%d", since.UnixMilli()))}})
		sel := `#station-alarms [data-priority="high"][data-state="active"][data-condition="station_link_down"]`
		b.Wait("station_link_down shown", fmt.Sprintf(`!!document.querySelector(%s)`, pagetest.Q(sel)), 2*time.Second)
		b.Wait("and sounding", `document.getElementById("sound").dataset.sounding === "high"`, 2*time.Second)
		if n := pagetest.Eval[int](b, `document.querySelectorAll("[data-condition=station_link_down]").length`); n != 1 {
			t.Errorf("station_link_down shown %d times, want once (for the station, not per chair)", n)
		}
		b.Shot("10-station-link-down")
		for _, id := range []string{"chair-01", "chair-02", "chair-03"} {
			f.update(id, func(c map[string]any) {
				list, _ := c["station_alarms"].([]any)
				c["station_alarms"] = list[:len(list)-1]
			})
		}
		f.sendStation(web.StationInfo{Name: "desk-1", BrokerConnected: true, Alarms: []station.StationAlarm{}})
		b.Wait("cleared", `document.querySelector("#station-alarms [data-alarm]") === null && document.getElementById("broker").textContent === "broker: connected"`, 2*time.Second)
	})

	t.Run("watchdog: no event for 10 s", func(t *testing.T) {
		b.T = t
		// Sound is armed and the page's pause (2 min from above) still runs:
		// the watchdog must sound through it.
		b.Wait("sound armed and paused", `document.getElementById("sound").dataset.sound === "paused"`, 3*time.Second)
		f.setHeartbeat(false)
		f.update("chair-01", func(map[string]any) {}) // the last event
		last := time.Now()
		time.Sleep(8 * time.Second)
		if pagetest.Eval[bool](b, `!document.getElementById("no-connection").hidden`) {
			t.Fatalf("watchdog fired %v after the last event, before 10 s", time.Since(last))
		}
		b.Wait("watchdog fires", `!document.getElementById("no-connection").hidden`, 5*time.Second)
		if d := time.Since(last); d < 10*time.Second || d > 12*time.Second {
			t.Errorf("watchdog fired %v after the last event, want 10 s (+ up to 2)", d)
		}
		b.Wait("watchdog sounds", `document.getElementById("sound").dataset.sounding === "high"`, 2*time.Second)
		b.Shot("09-no-connection")
		f.setHeartbeat(true)
		b.Wait("clears when events resume", `document.getElementById("no-connection").hidden`, 5*time.Second)
		b.NoExceptions()
	})
}

func strp(s string) *string { return &s }
