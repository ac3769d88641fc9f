// Pure logic of the station page: how payloads become what a nurse sees.
// No DOM here, so every rule is in one place and easy to read.

export const RANK = { high: 3, medium: 2, low: 1 };
export const SYMBOL = { high: "***", medium: "**", low: "*" };
export const PRIORITY_TEXT = { high: "HIGH", medium: "MEDIUM", low: "LOW" };

// SpO2 and pulse arrive every second; a value older than this is stale and
// is shown struck through, never as current.
export const VITAL_STALE_MS = 5000;
// A cuff reading is episodic: older than this it is greyed and struck
// through (its age is always shown beside it).
export const NIBP_STALE_MS = 30 * 60 * 1000;
// IEC 60601-1-8 burst repetition (as EDAN and others implement it).
export const REPEAT_MS = { high: 10000, medium: 25000, low: 30000 };
// The page's audio pause: fixed, never indefinite.
export const PAUSE_MS = 120000;
// No event (heartbeat every 5 s) this long: the page says it is cut off.
export const WATCHDOG_MS = 10000;

// Flags that describe the source, shown as badges; every other flag makes
// the value questionable (grey and struck through).
const SOURCE_FLAGS = new Set(["uncalibrated", "simulated"]);

export const PHASE_NAMES = {
  idle: "Idle", baseline: "Baseline", infusion: "Infusion",
  observation: "Observation", ended: "Ended",
};

// The chair's gate condition: an infusion_start while it is on needs
// "override": true.
export const GATE_CONDITION = "baseline_bp_above_gate";

// Station-wide conditions: the station lists them on every chair (for API
// users), but the page shows and sounds each once, from the station object.
export const STATION_WIDE = new Set(["station_link_down"]);

export function isObj(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }
export function str(v) { return typeof v === "string" ? v : ""; }
export function num(v) { return typeof v === "number" && Number.isFinite(v) ? v : null; }

// parseTime reads an RFC 3339 time; NaN when missing or not a time.
export function parseTime(v) {
  if (typeof v !== "string" || v === "") return NaN;
  return Date.parse(v);
}

// parseDuration reads the ISO 8601 durations the chair sends ("PT40M",
// "PT1H30M", "PT90S", "P1DT2H"); NaN when it is not one.
export function parseDuration(v) {
  if (typeof v !== "string") return NaN;
  const m = /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(v);
  if (!m || v === "P" || v.endsWith("T")) return NaN;
  const [d, h, mi, s] = m.slice(1).map((x) => (x === undefined ? 0 : Number(x)));
  return ((d * 24 + h) * 60 + mi) * 60000 + s * 1000;
}

// fmtDuration writes 23:14 or 1:05:09 (negative as 0:00).
export function fmtDuration(ms) {
  if (!Number.isFinite(ms)) return "—";
  let s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const p = (n) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${p(m)}:${p(s)}` : `${m}:${p(s)}`;
}

// fmtAge writes how long ago, coarse enough to read at a glance.
export function fmtAge(ms) {
  if (!Number.isFinite(ms)) return "—";
  if (ms < 0) ms = 0;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m} min ago`;
  return `${Math.floor(m / 60)} h ago`;
}

export function fmtClock(ms) {
  if (!Number.isFinite(ms)) return "—";
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtHM(ms) { return Number.isFinite(ms) ? fmtClock(ms).slice(0, 5) : "—"; }

// fmtValue writes a number as sent (no rounding of whole numbers, one
// decimal otherwise); "—" for anything that is not a number.
export function fmtValue(v) {
  const n = num(v);
  if (n === null) return "—";
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function flagsOf(p) {
  return Array.isArray(p?.flags) ? p.flags.filter((f) => typeof f === "string") : [];
}

// badges lists the source badges a chair's payloads call for.
export function badges(chair) {
  const out = new Set();
  for (const k of ["spo2", "pulse", "nibp"]) {
    const p = chair?.[k];
    if (!isObj(p)) continue;
    for (const f of flagsOf(p)) if (SOURCE_FLAGS.has(f)) out.add(f);
    if (p.source === "sim") { out.add("simulated"); out.add("uncalibrated"); }
    if (p.source === "max30102") out.add("uncalibrated");
  }
  return [...out].sort();
}

// vitalView says how to show SpO2 or pulse. now is the station's time,
// receivedAt when this page first saw this reading (a chair whose clock
// runs ahead cannot keep a frozen value looking fresh).
export function vitalView(p, now, receivedAt, online) {
  if (!isObj(p)) return { text: "—", stale: true, why: "no data" };
  const v = num(p.value);
  const flags = flagsOf(p).filter((f) => !SOURCE_FLAGS.has(f));
  const t = parseTime(p.t);
  const age = Math.max(now - t, Number.isFinite(receivedAt) ? now - receivedAt : -Infinity);
  const why = [];
  if (v === null) why.push(flags.length ? flags.join(", ") : "no value");
  else if (flags.length) why.push(flags.join(", "));
  if (!Number.isFinite(t)) why.push("no time");
  else if (age > VITAL_STALE_MS) why.push(`stale, ${fmtAge(age)}`);
  if (online === false) why.push("chair offline");
  return { text: fmtValue(v), stale: why.length > 0, why: why.join("; ") };
}

// nibpView says how to show the last cuff measurement: "128/82 (97)".
export function nibpView(p, now) {
  if (!isObj(p)) return { text: "—", stale: true, age: "", why: "no measurement" };
  const t = parseTime(p.t);
  const age = now - t;
  const sys = num(p.systolic), dia = num(p.diastolic), mean = num(p.mean);
  const why = [];
  let text;
  if (sys === null || dia === null) {
    text = "—";
    why.push(str(p.error) ? `failed: ${p.error}` : "no value");
  } else {
    text = `${fmtValue(sys)}/${fmtValue(dia)}` + (mean === null ? "" : ` (${fmtValue(mean)})`);
  }
  const flags = flagsOf(p).filter((f) => !SOURCE_FLAGS.has(f));
  if (flags.length) why.push(flags.join(", "));
  if (!Number.isFinite(t)) why.push("no time");
  else if (age > NIBP_STALE_MS) why.push("old");
  return { text, stale: why.length > 0, age: Number.isFinite(t) ? fmtAge(age) : "—", why: why.join("; ") };
}

// phaseView writes "Infusion 23:14 / 40:00" (the planned length only when
// the session carries phase_planned).
export function phaseView(chair, now) {
  const s = isObj(chair?.session) ? chair.session : null;
  const phase = str(s?.phase) || str(chair?.phase);
  const name = PHASE_NAMES[phase] ?? (phase || "—");
  if (!s || phase === "idle" || phase === "") return { name, timer: "" };
  const started = parseTime(s.phase_started);
  if (!Number.isFinite(started)) return { name, timer: "" };
  let timer = fmtDuration(now - started);
  const planned = parseDuration(s.phase_planned);
  if (Number.isFinite(planned)) timer += ` / ${fmtDuration(planned)}`;
  return { name, timer };
}

const STATES = new Set(["active", "acknowledged", "latched", "cleared"]);

// alarmsOf gives a chair's current alarms and station conditions in one
// shape. Unknown priorities count as high (never hide an alarm); cleared
// ones are not current and are left out.
export function alarmsOf(chair) {
  const out = [];
  const id = str(chair?.chair);
  const add = (a, station) => {
    if (!isObj(a)) return;
    const priority = RANK[a.priority] ? a.priority : "high";
    let state = station ? "active" : (STATES.has(a.state) ? a.state : "active");
    if (state === "cleared") return;
    out.push({
      chair: id,
      id: str(a.id) || `${str(a.condition) || "alarm"}@${id}`,
      condition: str(a.condition) || "unknown",
      priority,
      state,
      station,
      kind: str(a.kind),
      message: str(a.message) || str(a.condition) || "alarm",
      ackedBy: typeof a.acked_by === "string" ? a.acked_by : "",
      ackedAt: state === "acknowledged" ? parseTime(a.t) : NaN,
      since: parseTime(station ? a.since : (a.started || a.t)),
      audio: str(a.audio),
    });
  };
  if (Array.isArray(chair?.alarms)) for (const a of chair.alarms) add(a, false);
  if (Array.isArray(chair?.station_alarms)) {
    for (const a of chair.station_alarms) if (!(isObj(a) && STATION_WIDE.has(a.condition))) add(a, true);
  }
  return out;
}

// stationAlarms gives the station object's own conditions (the
// station-wide ones, e.g. station_link_down) in the shape of alarmsOf.
export function stationAlarms(st) {
  return (Array.isArray(st?.alarms) ? st.alarms : []).filter(isObj).map((a) => ({
    chair: "station", id: str(a.id) || str(a.condition) || "station", condition: str(a.condition) || "unknown",
    priority: RANK[a.priority] ? a.priority : "high", state: "active", station: true, kind: str(a.kind),
    message: str(a.message) || str(a.condition) || "alarm", ackedBy: "", ackedAt: NaN, since: parseTime(a.since), audio: "",
  }));
}

export function unacked(a) { return a.state === "active" || a.state === "latched"; }

// compareAlarms orders highest priority first, then those still needing a
// response, then the newest.
export function compareAlarms(a, b) {
  return (RANK[b.priority] - RANK[a.priority]) ||
    (Number(unacked(b)) - Number(unacked(a))) ||
    ((b.since || 0) - (a.since || 0)) ||
    (a.chair < b.chair ? -1 : a.chair > b.chair ? 1 : 0);
}

// tileLook says a tile's colour (its highest alarm) and whether it
// flashes (an alarm of that priority still wants a response).
export function tileLook(alarms) {
  let top = null, flash = false;
  for (const a of alarms) {
    if (!top || RANK[a.priority] > RANK[top]) { top = a.priority; flash = false; }
    if (a.priority === top && unacked(a)) flash = true;
  }
  return { priority: top, flash: flash && top !== "low" };
}

// soundingRank is the priority rank the page should sound for: unacked
// alarms whose chair has not paused its audio, and station conditions.
export function soundingRank(alarms) {
  let r = 0;
  for (const a of alarms) {
    if (!unacked(a)) continue;
    if (!a.station && (a.audio === "paused" || a.audio === "off")) continue;
    r = Math.max(r, RANK[a.priority]);
  }
  return r;
}

export function rankName(r) { return r === 3 ? "high" : r === 2 ? "medium" : r === 1 ? "low" : "none"; }

// alarmSignature changes whenever anything a nurse sees of the alarms does.
export function alarmSignature(alarms) {
  return alarms.map((a) => [a.id, a.priority, a.state, a.message, a.ackedBy, a.ackedAt, a.audio, a.since].join("\u0001")).join("\u0002");
}
