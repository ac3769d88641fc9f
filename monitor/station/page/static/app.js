// The station page: chair tiles, the alarm list, sound, the watchdog, the
// detail view and the actions of signed-in users. Every string that comes
// from a payload goes into the DOM as text (textContent, attribute values),
// never as markup.

import * as M from "./model.js";
import { Sound } from "./audio.js";

const $ = (id) => document.getElementById(id);

// h builds an element: props sets class, text, data-* (dataset) and
// listeners; children are nodes or strings (strings become text nodes).
function h(tag, props = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k === "data") for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = dv;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of kids) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function setText(e, s) { if (e.textContent !== s) e.textContent = s; }
function setClass(e, c, on) { if (e.classList.contains(c) !== on) e.classList.toggle(c, on); }

// ---- time: the station's clock, learnt from /api/chairs and heartbeats
let clockOffset = 0;
const now = () => Date.now() + clockOffset;
function learnClock(t) {
  const s = M.parseTime(t);
  if (Number.isFinite(s)) clockOffset = s - Date.now();
}

// ---- state
const chairs = new Map(); // id -> Chair
const sound = new Sound(now);
let lastEventAt = Date.now(); // page clock: the watchdog is about this page
let cutOff = false;
let user = ""; // the signed-in user, from /api/me and sign-in (the cookie is HttpOnly)
let detail = null; // the chair id whose detail is open
let alarmListDirty = true;

// ---- tiles

class Chair {
  constructor(id) {
    this.id = id;
    this.data = null;
    this.seen = { spo2: { t: "", at: NaN }, pulse: { t: "", at: NaN } };
    this.alarms = [];
    this.alarmSig = "";
    // The sparkline's points, kept only once the tile has been on screen
    // (500 chairs' half hours would cost the page tens of megabytes).
    this.spark = { spo2: { x: [], y: [] }, pulse: { x: [], y: [] }, dirty: false, plot: null, wanted: false, visible: false };
    this.phases = []; // [{phase, start}] seen in session payloads
    this.build();
  }

  build() {
    const r = (this.r = {});
    r.name = h("button", { class: "name", type: "button", text: this.id, title: "Open the chair's detail", onclick: () => openDetail(this.id) });
    r.badges = h("span", { class: "badges" });
    r.link = h("span", { class: "link" });
    r.phase = h("span", { class: "phase" });
    r.timer = h("span", { class: "timer" });
    r.spo2 = h("span", { class: "num", data: { param: "spo2" }, text: "—" });
    r.spo2why = h("span", { class: "why" });
    r.pulse = h("span", { class: "num", data: { param: "pulse" }, text: "—" });
    r.pulsewhy = h("span", { class: "why" });
    r.nibp = h("span", { class: "nibpv", data: { param: "nibp" }, text: "—" });
    r.nibpage = h("span", { class: "age" });
    r.nibpnext = h("span", { class: "next" });
    r.spark = h("div", { class: "spark" });
    r.alarms = h("ul", { class: "tile-alarms" });
    r.ackAll = h("button", { type: "button", class: "ack-all", text: "Acknowledge all", hidden: "", onclick: () => act(this.id, { action: "ack", alarm: "*" }) });
    r.detail = h("button", { type: "button", text: "Details", onclick: () => openDetail(this.id) });
    this.tile = h("article", { class: "tile", data: { chair: this.id } },
      h("header", {}, r.name, r.badges, r.link),
      h("div", { class: "phaseline" }, r.phase, " ", r.timer),
      h("div", { class: "vitals" },
        h("div", { class: "vital spo2" }, h("span", { class: "label", text: "SpO2 %" }), r.spo2, r.spo2why),
        h("div", { class: "vital pulse" }, h("span", { class: "label", text: "Pulse /min" }), r.pulse, r.pulsewhy)),
      h("div", { class: "nibp" }, h("span", { class: "label", text: "NIBP" }), r.nibp, r.nibpage, r.nibpnext),
      r.spark,
      r.alarms,
      h("footer", {}, r.ackAll, r.detail));
  }

  // update takes a new CHAIR payload.
  update(c) {
    for (const k of ["spo2", "pulse"]) {
      const p = M.isObj(c[k]) ? c[k] : null;
      const pt = M.str(p?.t);
      if (pt !== this.seen[k].t) {
        this.seen[k] = { t: pt, at: now() };
        const v = M.num(p?.value), ts = M.parseTime(pt);
        if (this.spark.wanted && Number.isFinite(ts)) {
          const s = this.spark[k];
          s.x.push(ts / 1000); s.y.push(v);
          trimSeries(s, now() / 1000 - 1800);
          this.spark.dirty = true;
        }
      }
    }
    const s = M.isObj(c.session) ? c.session : null;
    if (s) {
      const st = M.parseTime(s.phase_started), ph = M.str(s.phase);
      const last = this.phases[this.phases.length - 1];
      if (ph && Number.isFinite(st) && (!last || last.phase !== ph || last.start !== st)) this.phases.push({ phase: ph, start: st });
    }
    this.data = c;
    const alarms = M.alarmsOf(c).sort(M.compareAlarms);
    const sig = M.alarmSignature(alarms);
    this.alarms = alarms;
    if (sig !== this.alarmSig) {
      this.alarmSig = sig;
      this.renderAlarms();
      alarmListDirty = true;
    }
    this.refresh();
  }

  renderAlarms() {
    const look = M.tileLook(this.alarms);
    for (const p of ["high", "medium", "low"]) setClass(this.tile, `p-${p}`, look.priority === p);
    setClass(this.tile, "flash-high", look.flash && look.priority === "high");
    setClass(this.tile, "flash-medium", look.flash && look.priority === "medium");
    this.r.alarms.replaceChildren(...this.alarms.map((a) => alarmItem(a, false)));
    if (this.alarms.some((a) => !a.station && M.unacked(a))) this.r.ackAll.removeAttribute("hidden");
    else this.r.ackAll.setAttribute("hidden", "");
  }

  // refresh redraws what depends on time: values' staleness, ages, timers.
  refresh() {
    const c = this.data;
    if (!c) return;
    const n = now(), r = this.r;
    const online = c.online === true;
    for (const k of ["spo2", "pulse"]) {
      const v = M.vitalView(c[k], n, this.seen[k].at, online);
      setText(r[k], v.text);
      setClass(r[k], "stale", v.stale);
      setClass(r[k], "missing", v.text === "—");
      setText(r[k + "why"], v.why);
    }
    const nb = M.nibpView(c.nibp, n);
    setText(r.nibp, nb.text);
    setClass(r.nibp, "stale", nb.stale || !online);
    setClass(r.nibp, "missing", nb.text === "—");
    setText(r.nibpage, nb.why ? `${nb.age} · ${nb.why}` : nb.age);
    const next = M.parseTime(c.session?.next_nibp);
    setText(r.nibpnext, Number.isFinite(next) ? `next ${M.fmtHM(next)}${next > n ? ` (in ${M.fmtDuration(next - n)})` : " (due)"}` : "");
    const ph = M.phaseView(c, n);
    setText(r.phase, ph.name);
    setText(r.timer, ph.timer);
    const seen = M.parseTime(c.last_seen);
    setText(r.link, online ? `live · ${M.fmtAge(n - seen)}` : `OFFLINE · seen ${M.fmtAge(n - seen)}`);
    setClass(r.link, "offline", !online);
    const b = M.badges(c).join(" ");
    if (r.badges.dataset.b !== b) {
      r.badges.dataset.b = b;
      r.badges.replaceChildren(...M.badges(c).map((x) => h("span", { class: `badge badge-${x}`, text: x.toUpperCase() })));
    }
  }

  // drawSpark redraws the 30-minute sparkline (SpO2 and pulse).
  drawSpark() {
    const sp = this.spark;
    const cut = now() / 1000 - 1800;
    trimSeries(sp.spo2, cut);
    trimSeries(sp.pulse, cut);
    sp.dirty = false;
    if (typeof uPlot === "undefined") return;
    const data = joinSeries([sp.spo2, sp.pulse]);
    if (!sp.plot) {
      sp.plot = new uPlot({
        width: Math.max(200, this.r.spark.clientWidth || 280), height: 56, legend: { show: false }, cursor: { show: false },
        axes: [{ show: false }, { show: false, scale: "pct" }, { show: false, scale: "bpm" }],
        scales: { x: { time: true }, pct: { range: [70, 100] }, bpm: { range: [30, 180] } },
        series: [{}, { stroke: "#4aa8ff", width: 1.5, scale: "pct" }, { stroke: "#5fd35f", width: 1, scale: "bpm" }],
      }, data, this.r.spark);
    } else sp.plot.setData(data);
  }
}

// joinSeries aligns {x: [...], y: [...]} series (x in seconds) on one time
// axis for uPlot; a series has undefined where it has no point (uPlot joins
// across) and keeps a sensor's null (uPlot leaves a gap: no value is never
// drawn as one).
function joinSeries(series) {
  const xs = [...new Set(series.flatMap((s) => s.x))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const out = [xs];
  for (const s of series) {
    const ys = new Array(xs.length).fill(undefined);
    for (let i = 0; i < s.x.length; i++) ys[at.get(s.x[i])] = s.y[i];
    out.push(ys);
  }
  return out;
}

// trimSeries drops points before cut (seconds).
function trimSeries(s, cut) {
  let i = 0;
  while (i < s.x.length && s.x[i] < cut) i++;
  if (i) { s.x.splice(0, i); s.y.splice(0, i); }
}

function alarmItem(a, withChair) {
  const li = h("li", {
    class: `alarm p-${a.priority} st-${a.state}` + (M.unacked(a) && a.priority !== "low" ? ` flash-${a.priority}` : ""),
    data: { alarm: a.id, priority: a.priority, state: a.state, condition: a.condition },
  });
  if (withChair) li.dataset.alarmChair = a.chair;
  li.append(h("span", { class: "sym", text: M.SYMBOL[a.priority] }), " ",
    h("span", { class: "prio", text: M.PRIORITY_TEXT[a.priority] }), " ");
  if (withChair) li.append(h("button", { type: "button", class: "chairref", text: a.chair, onclick: () => openDetail(a.chair) }), " ");
  li.append(h("span", { class: "msg", text: a.message }), " ");
  let st;
  if (a.state === "acknowledged") st = `acknowledged by ${a.ackedBy || "—"}${Number.isFinite(a.ackedAt) ? " at " + M.fmtClock(a.ackedAt) : ""}`;
  else if (a.state === "latched") st = "LATCHED: condition over, acknowledge to clear";
  else st = a.station ? "station condition" : "active";
  if (a.audio === "paused" && M.unacked(a)) st += " · audio paused at the chair";
  li.append(h("span", { class: "state", text: st }));
  if (Number.isFinite(a.since)) li.append(" ", h("span", { class: "since", text: `since ${M.fmtClock(a.since)}` }));
  if (!a.station && M.unacked(a)) {
    li.append(" ", h("button", { type: "button", class: "ack", text: "Ack", onclick: () => act(a.chair, { action: "ack", alarm: a.id }) }));
  }
  return li;
}

function chairFor(id) {
  let c = chairs.get(id);
  if (!c) {
    c = new Chair(id);
    chairs.set(id, c);
    const grid = $("grid");
    const after = [...chairs.keys()].sort().find((k) => k > id);
    grid.insertBefore(c.tile, after ? chairs.get(after).tile : null);
    tileSeen.observe(c.tile);
  }
  return c;
}

function takeChair(c) {
  if (!M.isObj(c) || typeof c.chair !== "string" || c.chair === "") return;
  const ch = chairFor(c.chair);
  ch.update(c);
  if (detail === c.chair) {
    if (detailTimer) renderDetailHead(ch);
    else route(); // the chair the detail waited for
  }
  if (alarmListDirty) {
    renderAlarmList();
    updateSound(); // at once for a new alarm; otherwise every 250 ms
  }
}

function renderAlarmList() {
  alarmListDirty = false;
  const all = [];
  for (const c of chairs.values()) all.push(...c.alarms);
  all.sort(M.compareAlarms);
  $("alarm-list").replaceChildren(...all.map((a) => alarmItem(a, true)));
  setText($("alarm-count"), String(all.length));
}

// ---- sparklines: 30 minutes from the trend API, then live values

// A tile's sparkline is fetched when the tile first comes on screen and
// drawn only while it is there.
const tileSeen = new IntersectionObserver((entries) => {
  for (const e of entries) {
    const c = chairs.get(e.target.dataset.chair);
    if (!c) continue;
    c.spark.visible = e.isIntersecting;
    if (e.isIntersecting && !c.spark.wanted) { c.spark.wanted = true; loadSpark(c); }
  }
});
const sparkQueue = [];
let sparkLoading = 0;
function loadSpark(c) { sparkQueue.push(c); pumpSparks(); }
function pumpSparks() {
  while (sparkLoading < 4 && sparkQueue.length) {
    const c = sparkQueue.shift();
    sparkLoading++;
    const to = now(), from = to - 1800000;
    fetchJSON(`/api/chairs/${encodeURIComponent(c.id)}/trend?from=${iso(from)}&to=${iso(to)}`)
      .then((tr) => {
        for (const k of ["spo2", "pulse"]) {
          const old = trendSeries(tr, k, 1), live = c.spark[k];
          const first = live.x.length ? live.x[0] : Infinity;
          let n = 0;
          while (n < old.x.length && old.x[n] < first) n++;
          c.spark[k] = { x: old.x.slice(0, n).concat(live.x), y: old.y.slice(0, n).concat(live.y) };
        }
        c.spark.dirty = true;
        if (c.spark.visible) c.drawSpark();
      })
      .catch((e) => console.warn("trend", c.id, e))
      .finally(() => { sparkLoading--; pumpSparks(); });
  }
}

// trendSeries reads one column of a trend answer ([[t, v, ...], ...]);
// rows without a time are skipped, values that are not numbers are null.
function trendSeries(tr, k, col) {
  const x = [], y = [];
  for (const p of Array.isArray(tr?.[k]) ? tr[k] : []) {
    if (!Array.isArray(p)) continue;
    const t = M.parseTime(p[0]);
    if (!Number.isFinite(t)) continue;
    x.push(t / 1000); y.push(M.num(p[col]));
  }
  return { x, y };
}

function iso(ms) { return new Date(ms).toISOString(); }

async function fetchJSON(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

// ---- the chairs and the event stream

async function loadAll() {
  try {
    const all = await fetchJSON("/api/chairs");
    learnClock(all?.t);
    showStation(all?.station);
    if (Array.isArray(all?.chairs)) for (const c of all.chairs) takeChair(c);
  } catch (e) {
    console.warn("chairs", e);
  }
}

// The station object (/api/chairs, event: station): its name, its broker
// connection, and its station-wide conditions (station_link_down once the
// connection has been down 5 s), shown and sounded once for the station.
let stationRank = 0;
let stationSig = "";
function showStation(st) {
  if (!M.isObj(st)) return;
  if (typeof st.name === "string" && st.name) setText($("station-name"), st.name);
  if (typeof st.broker_connected === "boolean") {
    setText($("broker"), st.broker_connected ? "broker: connected" : "broker: DOWN");
    setClass($("broker"), "down", !st.broker_connected);
  }
  const list = M.stationAlarms(st).sort(M.compareAlarms);
  const sig = M.alarmSignature(list);
  if (sig === stationSig) return;
  stationSig = sig;
  stationRank = M.soundingRank(list);
  $("station-alarms").replaceChildren(...list.map((a) => alarmItem(a, false)));
  updateSound();
}

let es = null;
let streamBroke = false;
function connect() {
  if (es) es.close();
  es = new EventSource("/api/events");
  es.addEventListener("chair", (ev) => {
    heard();
    let c;
    try { c = JSON.parse(ev.data); } catch { console.warn("bad chair event"); return; }
    takeChair(c);
  });
  es.addEventListener("heartbeat", (ev) => {
    heard();
    try { learnClock(JSON.parse(ev.data)?.t); } catch { /* a heartbeat needs no body */ }
  });
  es.addEventListener("station", (ev) => {
    heard();
    let st;
    try { st = JSON.parse(ev.data); } catch { console.warn("bad station event"); return; }
    showStation(st);
  });
  // After any break the stream resumes without what happened meanwhile:
  // reload every chair as soon as it is open again.
  es.addEventListener("open", () => { if (streamBroke) { streamBroke = false; loadAll(); whoAmI(); } });
  es.addEventListener("error", () => {
    streamBroke = true;
    if (es.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
  });
}

function heard() {
  lastEventAt = Date.now();
  if (cutOff) {
    cutOff = false;
    $("no-connection").hidden = true;
    loadAll(); // catch up on what changed while cut off
    updateSound();
  }
}

function watchdog() {
  const age = Date.now() - lastEventAt;
  if (age >= M.WATCHDOG_MS && !cutOff) {
    cutOff = true;
    $("no-connection").hidden = false;
  }
  if (cutOff) setText($("no-connection-age"), String(Math.floor(age / 1000)));
}

// ---- sound

function updateSound() {
  let want = stationRank;
  for (const c of chairs.values()) want = Math.max(want, M.soundingRank(c.alarms));
  const playing = sound.update(want, cutOff);
  const b = $("sound");
  const on = sound.on();
  const left = sound.pauseLeft();
  b.dataset.sound = on ? (left > 0 ? "paused" : "on") : "off";
  b.dataset.sounding = playing;
  b.dataset.bursts = String(sound.bursts);
  setText(b, !on ? "Sound OFF" : left > 0 ? `Sound PAUSED ${M.fmtDuration(left)}` : "Sound ON");
  $("sound-banner").hidden = on;
  setText($("pause"), left > 0 ? `Paused ${M.fmtDuration(left)}` : "Pause sound 2:00");
}

async function armSound() {
  if (sound.on()) return;
  await sound.arm();
  updateSound();
}

// ---- detail view

let detailWindow = "15m";
let detailPlot = null;
let detailTimer = 0;

function openDetail(id) {
  location.hash = "chair=" + encodeURIComponent(id);
}

// route shows the grid, or one chair's detail in its place (#chair=<id>);
// the header and the alarm list stay in view either way.
function route() {
  let id = null;
  const m = /^#chair=(.+)$/.exec(location.hash);
  if (m) { try { id = decodeURIComponent(m[1]); } catch { id = m[1]; } }
  detail = id;
  $("detail").hidden = !id;
  $("grid").hidden = !!id;
  clearInterval(detailTimer);
  detailTimer = 0;
  if (detailPlot) { detailPlot.destroy(); detailPlot = null; }
  if (!id) return;
  setText($("detail-reply"), "");
  $("detail-history").tBodies[0].replaceChildren();
  const c = chairs.get(id);
  if (!c) {
    // Never make up a chair from a typed address: say so and wait for it.
    setText($("detail-title"), `${id}: not seen by this station`);
    setText($("detail-phase"), "");
    $("detail-summary").replaceChildren("—");
    $("detail-marks").replaceChildren();
    return;
  }
  renderDetailHead(c);
  loadDetail();
  detailTimer = setInterval(loadDetail, 10000);
}

function renderDetailHead(c) {
  setText($("detail-title"), c.id);
  const ph = M.phaseView(c.data, now());
  setText($("detail-phase"), `${ph.name} ${ph.timer}`);
  renderSummary(c);
}

function renderSummary(c) {
  const s = c.data?.summary;
  const box = $("detail-summary");
  const marks = [];
  if (Array.isArray(s?.marks)) marks.push(...s.marks);
  if (Array.isArray(c.data?.session?.marks)) marks.push(...c.data.session.marks);
  $("detail-marks").replaceChildren(...marks.filter(M.isObj).map((m) =>
    h("li", { text: `${M.fmtClock(M.parseTime(m.t))} ${M.str(m.note) || "—"} (${M.str(m.by) || "—"})` })));
  if (!M.isObj(s)) { box.replaceChildren("—"); return; }
  const rows = [];
  const ph = M.isObj(s.phases) ? s.phases : {};
  for (const k of ["baseline", "infusion", "observation"]) rows.push([`${M.PHASE_NAMES[k]}`, M.fmtDuration(M.parseDuration(ph[k]))]);
  rows.push(["SpO2 min / median", `${M.fmtValue(s.spo2?.min)} / ${M.fmtValue(s.spo2?.median)} %`]);
  rows.push(["Pulse min / max", `${M.fmtValue(s.pulse?.min)} / ${M.fmtValue(s.pulse?.max)} /min`]);
  rows.push(["NIBP max", `${M.fmtValue(s.nibp?.systolic_max)}/${M.fmtValue(s.nibp?.diastolic_max)} (${M.fmtValue(s.nibp?.count)} readings)`]);
  const al = M.isObj(s.alarms) ? Object.entries(s.alarms).map(([k, v]) => `${k}: ${M.fmtValue(v)}`).join(", ") : "";
  rows.push(["Alarms", al || "none"]);
  const oor = M.isObj(s.minutes_out_of_range) ? Object.entries(s.minutes_out_of_range).map(([k, v]) => `${k}: ${M.fmtValue(v)} min`).join(", ") : "";
  rows.push(["Out of range", oor || "none"]);
  if (M.isObj(s.discharge)) {
    const d = s.discharge;
    rows.push(["Discharge check", d.met === true ? "met" : `not met${Array.isArray(d.unmet) ? ": " + d.unmet.filter((x) => typeof x === "string").join("; ") : ""}`]);
  }
  if (typeof s.gate_override_by === "string") rows.push(["Gate overridden by", s.gate_override_by]);
  box.replaceChildren(h("table", {}, ...rows.map(([k, v]) => h("tr", {}, h("th", { text: k }), h("td", { text: v })))));
}

async function loadDetail() {
  const id = detail;
  const c = chairs.get(id);
  if (!c) return;
  const to = now();
  const sessStart = M.parseTime(c.data?.session?.started);
  const from = detailWindow === "15m" ? to - 900000 : detailWindow === "1h" ? to - 3600000
    : (Number.isFinite(sessStart) ? sessStart : to - 3600000);
  const enc = encodeURIComponent(id);
  let tr = null, hist = null;
  try { tr = await fetchJSON(`/api/chairs/${enc}/trend?from=${iso(from)}&to=${iso(to)}`); } catch (e) { console.warn(e); }
  const histFrom = Number.isFinite(sessStart) ? Math.min(sessStart, from) : from;
  try { hist = await fetchJSON(`/api/chairs/${enc}/alarms?from=${iso(histFrom)}`); } catch (e) { console.warn(e); }
  if (detail !== id) return;
  const alarms = Array.isArray(hist?.alarms) ? hist.alarms.filter(M.isObj) : [];
  renderHistory(alarms);
  drawDetail(c, tr, alarms, from / 1000, to / 1000);
}

function renderHistory(alarms) {
  const rows = alarms.slice().reverse().map((a) => {
    const pr = M.RANK[a.priority] ? a.priority : "high";
    return h("tr", { class: `p-${pr}` },
      h("td", { text: M.fmtClock(M.parseTime(a.t)) }),
      h("td", { text: M.str(a.id) || "—" }),
      h("td", { text: `${M.SYMBOL[pr]} ${M.PRIORITY_TEXT[pr]}` }),
      h("td", { text: M.str(a.phase) || "—" }),
      h("td", { text: M.str(a.state) || "—" }),
      h("td", { text: M.str(a.message) || M.str(a.condition) || "—" }),
      h("td", { text: typeof a.acked_by === "string" ? a.acked_by : "—" }));
  });
  $("detail-history").tBodies[0].replaceChildren(...rows);
}

const PHASE_COLOURS = { baseline: "rgba(120,140,200,0.15)", infusion: "rgba(180,120,220,0.18)", observation: "rgba(110,200,140,0.15)" };
const PRIO_COLOURS = { high: "#ff3b3b", medium: "#ffc400", low: "#27d3e6" };

function drawDetail(c, tr, alarms, from, to) {
  const data = joinSeries([trendSeries(tr, "spo2", 1), trendSeries(tr, "pulse", 1), trendSeries(tr, "nibp", 1), trendSeries(tr, "nibp", 2), trendSeries(tr, "nibp", 3)]);
  // Phase bands: from the session summary when it is this session's (its
  // lengths are the chair's own), else from the phase starts this page saw.
  const bands = [];
  const s = c.data?.summary, sess = c.data?.session;
  const useSummary = M.isObj(s?.phases) && Number.isFinite(M.parseTime(s?.started)) && (!M.isObj(sess) || sess.id === s.id);
  const started = useSummary ? M.parseTime(s.started) : M.parseTime(sess?.started);
  const ph = [];
  if (useSummary) {
    let t = started;
    for (const k of ["baseline", "infusion", "observation"]) {
      const d = M.parseDuration(s.phases[k]);
      if (Number.isFinite(d)) { ph.push({ phase: k, start: t }); t += d; }
    }
  } else ph.push(...c.phases);
  ph.sort((a, b) => a.start - b.start);
  // A session starts in baseline: before the first phase this page saw.
  if (Number.isFinite(started) && (!ph.length || ph[0].start > started)) ph.unshift({ phase: "baseline", start: started });
  for (let i = 0; i < ph.length; i++) {
    const end = i + 1 < ph.length ? ph[i + 1].start : to * 1000;
    if (PHASE_COLOURS[ph[i].phase]) bands.push([ph[i].start / 1000, end / 1000, ph[i].phase]);
  }
  // One line per alarm at its start, in its highest priority.
  const starts = new Map();
  for (const a of alarms) {
    const id = M.str(a.id), t = M.parseTime(a.started || a.t), p = M.RANK[a.priority] ? a.priority : "high";
    const o = starts.get(id);
    if (!o) starts.set(id, [t / 1000, p]);
    else if (M.RANK[p] > M.RANK[o[1]]) o[1] = p;
  }
  const marks = [...starts.values()];
  const draw = (u) => {
    const ctx = u.ctx;
    ctx.save();
    for (const [a, b, p] of bands) {
      const x0 = u.valToPos(Math.max(a, u.scales.x.min), "x", true), x1 = u.valToPos(Math.min(b, u.scales.x.max), "x", true);
      if (x1 <= x0) continue;
      ctx.fillStyle = PHASE_COLOURS[p];
      ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
      ctx.fillStyle = "#aaa"; ctx.font = `${12 * devicePixelRatio}px sans-serif`;
      ctx.fillText(M.PHASE_NAMES[p], x0 + 4, u.bbox.top + 14 * devicePixelRatio);
    }
    for (const [t, p] of marks) {
      if (!Number.isFinite(t) || t < u.scales.x.min || t > u.scales.x.max) continue;
      const x = u.valToPos(t, "x", true);
      ctx.strokeStyle = PRIO_COLOURS[p]; ctx.lineWidth = 2 * devicePixelRatio;
      ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
    }
    ctx.restore();
  };
  const el = $("detail-chart");
  const width = Math.max(400, el.clientWidth || 800);
  if (detailPlot) detailPlot.destroy();
  const dot = (stroke) => ({ stroke, scale: "mm", paths: () => null, points: { show: true, size: 9, stroke, fill: stroke } });
  detailPlot = new uPlot({
    width, height: 320,
    scales: { x: { time: true, range: [from, to] }, pct: { range: [70, 100] }, mm: { range: [30, 220] } },
    axes: [{ stroke: "#ccc", grid: { stroke: "#333" }, values: (u, splits) => splits.map((x) => M.fmtHM(x * 1000)) }, { scale: "pct", stroke: "#4aa8ff", grid: { stroke: "#333" } }, { scale: "mm", side: 1, stroke: "#ccc", grid: { show: false } }],
    series: [{}, { label: "SpO2 %", stroke: "#4aa8ff", width: 2, scale: "pct" }, { label: "Pulse /min", stroke: "#5fd35f", width: 1.5, scale: "mm" },
      { label: "Systolic", ...dot("#ff8c42") }, { label: "Diastolic", ...dot("#ffd166") }, { label: "Mean", ...dot("#d0d0d0") }],
    hooks: { drawClear: [draw] },
  }, data, el);
}

// ---- actions

function showReply(chair, text, ok) {
  const line = h("div", { class: ok ? "ok" : "error", text: `${M.fmtClock(now())} ${chair}: ${text}` });
  const box = $("replies");
  box.prepend(line);
  while (box.childElementCount > 4) box.lastElementChild.remove();
  setTimeout(() => line.remove(), 12000);
  if (detail === chair) {
    const d = $("detail-reply");
    d.className = "reply " + (ok ? "ok" : "error");
    setText(d, text);
  }
}

function describe(body) {
  return body.action === "ack" ? `ack ${body.alarm === "*" ? "all" : body.alarm}` : body.action.replace("_", " ");
}

// act sends one command and shows the chair's reply.
async function act(chair, body) {
  const what = describe(body);
  let r;
  try {
    r = await fetch(`/api/chairs/${encodeURIComponent(chair)}/cmd`, {
      method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify(body),
    });
  } catch (e) {
    showReply(chair, `${what}: not sent, the station cannot be reached (${e.message})`, false);
    return null;
  }
  let j = null;
  try { j = await r.json(); } catch { /* the status says enough */ }
  const err = M.str(j?.error);
  if (r.status === 401) {
    setUser("");
    showReply(chair, `${what}: not sent, sign in first`, false);
    openSignin(`Sign in to send "${what}" to ${chair}.`);
    return j;
  }
  if (r.status === 403) showReply(chair, `${what}: not allowed at this station${err ? ": " + err : ""}`, false);
  else if (r.status === 504) showReply(chair, `${what}: no reply from the chair within 5 s${err ? ": " + err : ""}`, false);
  else if (!r.ok) showReply(chair, `${what}: refused (HTTP ${r.status})${err ? ": " + err : ""}`, false);
  else if (j?.ok === true) showReply(chair, `${what}: done`, true);
  else showReply(chair, `${what}: refused by the chair${err ? ": " + err : ""}`, false);
  return { status: r.status, reply: j };
}

function confirmBox(text) {
  return new Promise((resolve) => {
    const d = $("confirm");
    setText($("confirm-text"), text);
    const done = (v) => { d.close(); $("confirm-yes").onclick = $("confirm-no").onclick = null; resolve(v); };
    $("confirm-yes").onclick = () => done(true);
    $("confirm-no").onclick = () => done(false);
    d.showModal();
  });
}

async function detailAction(action) {
  const id = detail;
  if (!id) return;
  const c = chairFor(id);
  if (action === "ack_all") return act(id, { action: "ack", alarm: "*" });
  if (action === "infusion_start") {
    const gate = c.alarms.find((a) => a.condition === M.GATE_CONDITION && M.unacked(a));
    if (gate) return gateStart(id, gate.message);
    const res = await act(id, { action });
    if (res?.reply && res.reply.ok === false && /override/i.test(M.str(res.reply.error))) return gateStart(id, M.str(res.reply.error));
    return res;
  }
  if (action === "session_end" || action === "infusion_end") {
    if (!(await confirmBox(`${action === "session_end" ? "End the session" : "End the infusion"} on ${id}?`))) return;
  }
  return act(id, { action });
}

async function gateStart(id, why) {
  const who = user || "you (sign in first)";
  const ok = await confirmBox(`${id}: ${why}\n\nStart the infusion anyway? The override is recorded under ${who}.`);
  if (ok) return act(id, { action: "infusion_start", override: true });
}

// ---- sign-in

function setUser(u) {
  user = u;
  setText($("user"), u ? `signed in: ${u}` : "not signed in");
  $("signin-open").hidden = !!u;
  $("signout").hidden = !u;
  document.body.classList.toggle("signed-in", !!u);
}

function openSignin(why) {
  setText($("signin-why"), why || "");
  setText($("signin-error"), "");
  const d = $("signin");
  if (!d.open) d.showModal();
  $("signin-user").focus();
}

async function signin(ev) {
  ev.preventDefault();
  const u = $("signin-user").value, p = $("signin-password").value;
  if (new TextEncoder().encode(p).length > 72) { setText($("signin-error"), "Passwords are at most 72 bytes."); return; }
  let r;
  try {
    r = await fetch("/api/signin", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user: u, password: p }) });
  } catch (e) { setText($("signin-error"), `The station cannot be reached: ${e.message}`); return; }
  let j = null;
  try { j = await r.json(); } catch { /* ignore */ }
  if (r.ok) {
    $("signin-password").value = "";
    setUser(M.str(j?.user) || u);
    $("signin").close();
    return;
  }
  const err = M.str(j?.error);
  setText($("signin-error"), r.status === 401 ? "Wrong user name or password." : r.status === 429 ? "Too many attempts: wait a minute." : `Sign-in refused (HTTP ${r.status})${err ? ": " + err : ""}`);
}

// whoAmI asks the station who this page's cookie signs in (after a load,
// and after the stream comes back: a station restart signs everyone out).
async function whoAmI() {
  try {
    const me = await fetchJSON("/api/me");
    setUser(M.str(me?.user));
  } catch (e) { console.warn("me", e); }
}

async function signout() {
  try { await fetch("/api/signout", { method: "POST" }); } catch { /* the cookie ends anyway */ }
  setUser("");
}

// ---- start

function tick() {
  setText($("clock"), M.fmtClock(now()));
  if (detail && chairs.has(detail)) renderDetailHead(chairs.get(detail));
  updateSound();
}

// Time-driven work (ages, staleness, timers, sparklines) runs in small
// slices, so that with 500 chairs no single task holds up an alarm event:
// every 100 ms a tenth of the tiles is refreshed (each once a second) and
// at most two sparklines are redrawn (each at most every 5 s).
let ring = [], ringAt = 0;
function slice() {
  if (ring.length !== chairs.size) ring = [...chairs.values()];
  const n = Math.ceil(ring.length / 10);
  for (let i = 0; i < n && ring.length; i++) ring[(ringAt + i) % ring.length].refresh();
  ringAt = ring.length ? (ringAt + n) % ring.length : 0;
  const t = Date.now();
  let drawn = 0;
  for (const c of ring) {
    if (drawn >= 2) break;
    const sp = c.spark;
    if (sp.dirty && sp.visible && !(t - (sp.drawnAt || 0) < 5000)) { c.drawSpark(); sp.drawnAt = t; drawn++; }
  }
}

function start() {
  setUser("");
  whoAmI();
  document.addEventListener("click", armSound, true);
  document.addEventListener("keydown", armSound, true);
  $("pause").addEventListener("click", () => {
    let r = 0;
    for (const c of chairs.values()) r = Math.max(r, M.soundingRank(c.alarms));
    sound.pause(r);
    updateSound();
  });
  $("signin-open").addEventListener("click", () => openSignin(""));
  $("signin-cancel").addEventListener("click", () => $("signin").close());
  $("signin-form").addEventListener("submit", signin);
  $("signout").addEventListener("click", signout);
  $("detail-close").addEventListener("click", () => { location.hash = ""; });
  for (const b of document.querySelectorAll("#detail-actions button[data-action]")) {
    b.addEventListener("click", () => detailAction(b.dataset.action));
  }
  for (const b of document.querySelectorAll("#detail .windows button")) {
    b.addEventListener("click", () => {
      detailWindow = b.dataset.window;
      for (const x of document.querySelectorAll("#detail .windows button")) x.classList.toggle("on", x === b);
      loadDetail();
    });
  }
  $("mark-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const note = $("mark-note").value.trim();
    if (!note || !detail) return;
    act(detail, { action: "mark", note: note.slice(0, 200) }).then((res) => { if (res?.reply?.ok) $("mark-note").value = ""; });
  });
  window.addEventListener("hashchange", route);
  loadAll().then(route);
  connect();
  setInterval(watchdog, 500);
  setInterval(tick, 1000);
  setInterval(slice, 100);
  setInterval(updateSound, 250);
  updateSound();
}

start();
