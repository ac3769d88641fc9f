// Alarm sound of the page (Web Audio), after IEC 60601-1-8: a high alarm
// sounds 10 pulses (two groups of 3+2), a medium one 3, a low one 1; the
// burst repeats every 10, 25 or 30 s. A browser keeps sound off until the
// user clicks, so the page says so until then (see app.js).

import { REPEAT_MS, PAUSE_MS, rankName } from "./model.js";

// Pulse onsets in ms within one burst, pulse length, pitch.
const BURSTS = {
  high: { onsets: [0, 250, 500, 1000, 1250, 2250, 2500, 2750, 3250, 3500], len: 150, hz: 880 },
  medium: { onsets: [0, 400, 800], len: 200, hz: 660 },
  low: { onsets: [0], len: 250, hz: 523 },
};

export class Sound {
  constructor(now) {
    this.now = now;
    this.ctx = null;
    this.armed = false; // the user clicked: sound may play
    this.pausedUntil = 0;
    this.pausedRank = 0; // during a pause only a higher priority sounds
    this.playing = 0; // rank being sounded
    this.nextAt = 0;
    this.bursts = 0;
  }

  // arm is called from a user gesture; it creates or resumes the context.
  async arm() {
    try {
      if (!this.ctx) {
        const AC = window.AudioContext || window.webkitAudioContext;
        if (!AC) return false;
        this.ctx = new AC();
      }
      if (this.ctx.state !== "running") await this.ctx.resume();
      this.armed = this.ctx.state === "running";
    } catch (e) {
      console.error("sound: cannot start", e);
      this.armed = false;
    }
    return this.armed;
  }

  // on says whether sound can actually be heard now.
  on() { return this.armed && this.ctx !== null && this.ctx.state === "running"; }

  pause(currentRank) {
    this.pausedUntil = this.now() + PAUSE_MS;
    this.pausedRank = currentRank;
  }

  pauseLeft() { return Math.max(0, this.pausedUntil - this.now()); }

  // update decides what to sound: wantRank from the alarms, watchdog true
  // when the page is cut off from the station (it sounds through a pause).
  // It returns the name of the priority it sounds ("none" when silent).
  update(wantRank, watchdog) {
    const t = this.now();
    let rank = wantRank;
    if (t < this.pausedUntil && rank <= this.pausedRank) rank = 0;
    if (watchdog) rank = 3;
    if (!this.on() || rank === 0) {
      this.playing = 0;
      return "none";
    }
    if (rank !== this.playing || t >= this.nextAt) {
      const name = rankName(rank);
      this.burst(name);
      this.playing = rank;
      this.nextAt = t + REPEAT_MS[name];
    }
    return rankName(rank);
  }

  burst(name) {
    const b = BURSTS[name];
    const ctx = this.ctx;
    const start = ctx.currentTime + 0.02;
    for (const on of b.onsets) {
      const t0 = start + on / 1000, t1 = t0 + b.len / 1000;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "triangle";
      osc.frequency.value = b.hz;
      gain.gain.setValueAtTime(0, t0);
      gain.gain.linearRampToValueAtTime(0.3, t0 + 0.015);
      gain.gain.setValueAtTime(0.3, t1 - 0.02);
      gain.gain.linearRampToValueAtTime(0, t1);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0);
      osc.stop(t1 + 0.01);
    }
    this.bursts++;
  }
}
