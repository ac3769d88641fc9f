package page

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chairside/chairside/monitor/station/page/pagetest"
)

// TestModelInBrowser runs the page's rules (model.js) in chromium on cases a
// nurse would notice if they were wrong: durations, the planned-length
// timer, staleness, alarm order, what flashes and what sounds.
func TestModelInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	f := newFakeStation(t, "testdata/chairs.json")
	b := pagetest.New(t)
	b.Do(chromedp.Navigate(f.srv.URL + "/"))
	b.Wait("page", `!!document.querySelector("[data-chair]")`, 5*time.Second)
	fails, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](`(async () => {
		const M = await import("/model.js");
		const out = [];
		const eq = (name, got, want) => { if (JSON.stringify(got) !== JSON.stringify(want)) out.push(name + ": got " + JSON.stringify(got) + ", want " + JSON.stringify(want)); };
		eq("PT40M", M.parseDuration("PT40M"), 2400000);
		eq("PT1H30M", M.parseDuration("PT1H30M"), 5400000);
		eq("PT90S", M.parseDuration("PT90S"), 90000);
		eq("P1DT2H", M.parseDuration("P1DT2H"), 93600000);
		for (const bad of ["", "P", "PT", "40M", "PT40", "<b>PT40M</b>", null, 40]) eq("bad " + bad, Number.isNaN(M.parseDuration(bad)), true);
		eq("fmtDuration", [M.fmtDuration(0), M.fmtDuration(59999), M.fmtDuration(23*60000+14000), M.fmtDuration(3723000), M.fmtDuration(-5)], ["0:00", "0:59", "23:14", "1:02:03", "0:00"]);
		eq("fmtValue", [M.fmtValue(97), M.fmtValue(97.25), M.fmtValue(null), M.fmtValue("97"), M.fmtValue(NaN), M.fmtValue(Infinity)], ["97", "97.3", "—", "—", "—", "—"]);
		const now = Date.parse("2026-11-22T08:00:00.000Z");
		const at = (ms) => new Date(now - ms).toISOString();
		eq("fresh", M.vitalView({ value: 97, t: at(1000), flags: [] }, now, now - 1000, true).stale, false);
		eq("old by its time", M.vitalView({ value: 97, t: at(6000), flags: [] }, now, now - 1000, true).stale, true);
		eq("clock ahead, not renewed", M.vitalView({ value: 97, t: at(-60000), flags: [] }, now, now - 6000, true).stale, true);
		eq("flagged", M.vitalView({ value: 97, t: at(0), flags: ["artifact"] }, now, now, true).why, "artifact");
		eq("source flags are not stale", M.vitalView({ value: 97, t: at(0), flags: ["uncalibrated", "simulated"] }, now, now, true).stale, false);
		eq("offline", M.vitalView({ value: 97, t: at(0), flags: [] }, now, now, false).stale, true);
		eq("nibp", M.nibpView({ systolic: 128, diastolic: 82, mean: 97, t: at(240000) }, now), { text: "128/82 (97)", stale: false, age: "4 min ago", why: "" });
		eq("nibp failed", M.nibpView({ systolic: null, diastolic: null, error: "0x57 leak", t: at(0) }, now).text, "—");
		eq("nibp old", M.nibpView({ systolic: 128, diastolic: 82, mean: 97, t: at(31*60000) }, now).stale, true);
		eq("timer planned", M.phaseView({ session: { phase: "infusion", phase_started: at(23*60000+14000), phase_planned: "PT40M" } }, now), { name: "Infusion", timer: "23:14 / 40:00" });
		eq("timer unplanned", M.phaseView({ session: { phase: "observation", phase_started: at(65000) } }, now), { name: "Observation", timer: "1:05" });
		eq("idle", M.phaseView({ phase: "idle", session: null }, now), { name: "Idle", timer: "" });
		const A = (id, priority, state, extra = {}) => ({ id, priority, state, condition: "c", message: id, ...extra });
		const list = M.alarmsOf({ chair: "c1", alarms: [A("lo", "low", "active"), A("hiAck", "high", "acknowledged"), A("med", "medium", "active"), A("gone", "high", "cleared"), A("hi", "high", "latched")],
			station_alarms: [{ id: "off", condition: "chair_offline", priority: "medium", since: at(0) }] }).sort(M.compareAlarms);
		eq("order", list.map((a) => a.id).filter((x) => x !== "med" && x !== "off"), ["hi", "hiAck", "lo"]);
		eq("mediums between", list.slice(2, 4).map((a) => a.priority), ["medium", "medium"]);
		eq("highest first, unacked first, cleared left out", list.map((a) => a.id).slice(0, 2), ["hi", "hiAck"]);
		eq("no cleared", list.some((a) => a.id === "gone"), false);
		eq("tile high flashes (latched)", M.tileLook(list), { priority: "high", flash: true });
		eq("tile high acked steady", M.tileLook(M.alarmsOf({ chair: "c", alarms: [A("x", "high", "acknowledged"), A("y", "medium", "active")] })), { priority: "high", flash: false });
		eq("tile low steady", M.tileLook(M.alarmsOf({ chair: "c", alarms: [A("x", "low", "active")] })), { priority: "low", flash: false });
		eq("tile none", M.tileLook([]), { priority: null, flash: false });
		eq("unknown priority is high", M.alarmsOf({ chair: "c", alarms: [A("x", "urgent", "active")] })[0].priority, "high");
		eq("sounds latched", M.soundingRank(M.alarmsOf({ chair: "c", alarms: [A("x", "high", "latched")] })), 3);
		eq("acked silent", M.soundingRank(M.alarmsOf({ chair: "c", alarms: [A("x", "high", "acknowledged")] })), 0);
		eq("chair paused", M.soundingRank(M.alarmsOf({ chair: "c", alarms: [A("x", "high", "active", { audio: "paused" }), A("y", "low", "active")] })), 1);
		eq("station condition sounds", M.soundingRank(M.alarmsOf({ chair: "c", station_alarms: [{ id: "o", priority: "medium" }] })), 2);
		eq("station-wide condition not per chair", M.alarmsOf({ chair: "c", station_alarms: [{ id: "l", condition: "station_link_down", priority: "high" }, { id: "o", condition: "chair_offline", priority: "low" }] }).map((a) => a.id), ["o"]);
		eq("station's own conditions", M.stationAlarms({ broker_connected: false, alarms: [{ id: "st-station_link_down-1", condition: "station_link_down", priority: "high", since: at(0), message: "m" }] }).map((a) => [a.id, a.priority, a.state, a.station]), [["st-station_link_down-1", "high", "active", true]]);
		eq("station link down sounds high", M.soundingRank(M.stationAlarms({ alarms: [{ condition: "station_link_down", priority: "bogus" }] })), 3);
		eq("no station alarms", M.stationAlarms({ broker_connected: false }), []);
		eq("badges", M.badges({ spo2: { source: "sim", flags: [] }, pulse: { source: "max30102" } }), ["simulated", "uncalibrated"]);
		return out;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fails {
		t.Error(f)
	}
}
