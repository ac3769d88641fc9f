package ppg

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/chairside/chairside/monitor/vitals"
)

// Calibration maps the ratio of ratios R to SpO2: A + B·R + C·R².
type Calibration struct {
	A, B, C float64
	// Source says where the curve came from.
	Source string
}

// SpO2 gives the curve's SpO2 for R, in percent (not clamped).
func (c Calibration) SpO2(r float64) float64 { return c.A + c.B*r + c.C*r*r }

// Config sets the estimator up. Zero fields take the defaults named.
type Config struct {
	// SampleRate is the input's rate per second, 25 to 400: the only time
	// base (sample n is at n/SampleRate from the first).
	SampleRate float64
	// Window is the stretch of signal each estimate looks at (default 8 s).
	Window time.Duration
	// MinWindow is the signal needed after a start or a gap before the
	// first value (default 5 s); until then values are withheld as
	// searching.
	MinWindow time.Duration
	// Update is the time between estimates (default 1 s).
	Update time.Duration
	// MinDC is the infrared level (the input's units) below which the
	// finger is taken to be off (probe_off). 0 disables the check.
	MinDC float64
	// FullScale is the input's largest value: a window that reaches it is
	// clipped and withheld as artifact. 0 disables the check.
	FullScale float64
	// MinPerfusion is the infrared perfusion index, in percent (pulsatile
	// over steady light), below which values are withheld as
	// low_perfusion (default 0.1 %); under twice it they carry
	// marginal_perfusion.
	MinPerfusion float64
	// Calibration maps R to SpO2 (default DefaultCalibration).
	Calibration Calibration
}

// Estimate is what the estimator says about the last Window of signal.
// Every value carries vitals.Uncalibrated: raw-light SpO2 is only as good as
// a calibration this project cannot do on people (see the package doc).
type Estimate struct {
	// At is the time of the last sample analysed, from the first sample,
	// by the sample count (declared gaps included).
	At time.Duration
	// SpO2 in percent and Pulse per minute, vitals.NoValue when withheld.
	SpO2, Pulse int16
	// SpO2Flags and PulseFlags say why a value is withheld (ProbeOff,
	// Searching, Artifact, LowPerfusion) or how good it is
	// (MarginalPerfusion); both always hold Uncalibrated.
	SpO2Flags, PulseFlags vitals.Flag
	// R is the ratio of ratios behind SpO2, 0 when there is none.
	R float64
	// Perfusion is the infrared perfusion index in percent.
	Perfusion float64
	// Quality is the mean correlation of each beat with the window's
	// average beat (1 = identical beats), 0 when there are too few beats.
	Quality float64
	// Beats is the number of beats found in the window.
	Beats int
	// Reason says in a few words why a value was withheld ("" when none
	// was), for logs and the accuracy report.
	Reason string
}

// Readings gives the estimate as the two readings a driver sends.
func (e Estimate) Readings(sensor int) [2]vitals.Reading {
	return [2]vitals.Reading{
		{Sensor: sensor, Param: vitals.SpO2, Value: e.SpO2, Flags: e.SpO2Flags},
		{Sensor: sensor, Param: vitals.Pulse, Value: e.Pulse, Flags: e.PulseFlags},
	}
}

// Limits of the method.
const (
	MinSampleRate = 25
	MaxSampleRate = 400
	// The pulse band: 0.5 Hz high-pass (30/min) and 5 Hz low-pass
	// (300/min), 2nd-order Butterworth each.
	bandLow, bandHigh  = 0.5, 5.0
	minPulse, maxPulse = 25, 250
	// Beats closer than this are one beat (a dicrotic wave or noise).
	refractory = 0.24 // s, 250/min
	// Hysteresis of the beat detector, in standard deviations of the
	// band-passed signal.
	hysteresis = 0.3
	// A window is artifact when its beats' shapes agree less than this, or
	// red and infrared correlate less than minRedIR, or fewer than
	// minAccepted of its beats pass the amplitude and interval checks.
	minQuality  = 0.86
	minRedIR    = 0.8
	minAccepted = 2.0 / 3
	// The ratio from single beats (median) and from the whole window
	// (regression of red on infrared) must agree this closely.
	maxRDisagree = 0.2
	// The beats' SpO2 (points) and intervals (fraction of the median) may
	// spread this much, as median absolute deviations; motion spreads both.
	maxSpO2Spread, maxIntervalSpread = 2, 0.1
	// Below this SpO2 the curve is an extrapolation nobody measured.
	minSpO2 = 50
	segLen  = 32 // points a beat is resampled to for the shape check
	// Lost samples up to this many seconds are bridged, not a restart.
	maxBridge = 0.1
	// Pulse amplitude may change by this factor between windows before it
	// is taken as motion, for up to jumpTime seconds.
	maxJump, jumpTime = 1.8, 10
)

// DefaultCalibration is the line fitted by least squares to this
// package's ratio on the fitting half (even-numbered files by name) of the
// public OxiWear proto1 recordings: one subject in induced hypoxia, 70-98 %
// against a finger oximeter, on a MAXM86161 (not a MAX30102), 3-6 s clips.
// On the held-out half it gives Arms 4.2, bias +1.8 (n 23; see
// docs/design.md). The textbook line 110 − 25·R read the same recordings
// 7 points high, the dangerous direction. It is the only curve here with any
// measurement behind it, and that measurement is far too small to call it a
// calibration: every value stays flagged uncalibrated.
var DefaultCalibration = Calibration{A: 107.3, B: -28.2,
	Source: "least squares on the fitting half of OxiWear proto1 (MAXM86161, one subject, 70-98 %)"}

// Estimator turns red and infrared samples into SpO2 and pulse estimates.
// It is pure: it reads no clock and does no I/O; one goroutine uses it.
type Estimator struct {
	cfg                      Config
	fs                       float64
	w, minW, updateN         int // in samples
	redBP, irBP              bandPass
	redRaw, irRaw, redAC, ir []float64 // rings of w samples
	head, filled             int
	n                        int64 // samples so far, gaps included
	since                    int   // samples since the last start or gap
	updates                  int64 // estimates given, to schedule the next
	nextUpdate               int64
	lastRed, lastIR          float64
	badAt                    int64   // sample index of the last bad input, -1 none
	refAmp                   float64 // infrared pulse amplitude of the last good windows
	refSet                   bool
	jumps                    int // estimates since the amplitude jumped

	// Scratch, sized at New so that Push does not allocate.
	lr, li, lra, lia []float64
	beats            []beat
	tmp, tmp2        []float64
	segs             []float64
	tmpl             [segLen]float64
}

type beat struct {
	trough, peak int     // indices in the window
	t            float64 // peak time in samples, interpolated
	ampIR, ampR  float64
	ok           bool
}

// New checks cfg and gives an estimator.
func New(cfg Config) (*Estimator, error) {
	if !(cfg.SampleRate >= MinSampleRate && cfg.SampleRate <= MaxSampleRate) {
		return nil, fmt.Errorf("ppg: sample rate %v/s: want %d to %d", cfg.SampleRate, MinSampleRate, MaxSampleRate)
	}
	if cfg.Window == 0 {
		cfg.Window = 8 * time.Second
	}
	if cfg.MinWindow == 0 {
		cfg.MinWindow = 5 * time.Second
	}
	if cfg.Update == 0 {
		cfg.Update = time.Second
	}
	if cfg.MinPerfusion == 0 {
		cfg.MinPerfusion = 0.1
	}
	if cfg.Calibration == (Calibration{}) {
		cfg.Calibration = DefaultCalibration
	}
	switch {
	case cfg.Window < 3*time.Second || cfg.Window > 30*time.Second:
		return nil, fmt.Errorf("ppg: window %v: want 3s to 30s", cfg.Window)
	case cfg.MinWindow < 2*time.Second || cfg.MinWindow > cfg.Window:
		return nil, fmt.Errorf("ppg: minimum window %v: want 2s up to the window (%v)", cfg.MinWindow, cfg.Window)
	case cfg.Update < 100*time.Millisecond || cfg.Update > cfg.Window:
		return nil, fmt.Errorf("ppg: update %v: want 100ms up to the window (%v)", cfg.Update, cfg.Window)
	case cfg.MinDC < 0 || cfg.FullScale < 0 || cfg.MinPerfusion < 0 || math.IsNaN(cfg.MinDC+cfg.FullScale+cfg.MinPerfusion):
		return nil, fmt.Errorf("ppg: negative level in %+v", cfg)
	}
	fs := cfg.SampleRate
	e := &Estimator{cfg: cfg, fs: fs, badAt: -1}
	e.w = int(math.Round(cfg.Window.Seconds() * fs))
	e.minW = int(math.Round(cfg.MinWindow.Seconds() * fs))
	e.redBP = newBandPass(bandLow, bandHigh, fs)
	e.irBP = newBandPass(bandLow, bandHigh, fs)
	for _, p := range []*[]float64{&e.redRaw, &e.irRaw, &e.redAC, &e.ir, &e.lr, &e.li, &e.lra, &e.lia, &e.tmp2} {
		*p = make([]float64, e.w)
	}
	maxBeats := int(cfg.Window.Seconds()*maxPulse/60) + 4
	e.beats = make([]beat, 0, maxBeats)
	e.tmp = make([]float64, 0, max(maxBeats, e.w))
	e.segs = make([]float64, maxBeats*segLen)
	e.nextUpdate = e.updateAt(1)
	return e, nil
}

func (e *Estimator) updateAt(k int64) int64 {
	return int64(math.Round(float64(k) * e.cfg.Update.Seconds() * e.fs))
}

// Config gives the configuration in use, defaults filled in.
func (e *Estimator) Config() Config { return e.cfg }

// Push adds one sample of red and infrared light (any linear units, the same
// for both, e.g. ADC counts). At each Update it returns an estimate and true.
// A sample that is not a finite, non-negative number is an artifact: the
// window it is in gives no values.
func (e *Estimator) Push(red, ir float64) (Estimate, bool) {
	if !(red >= 0 && ir >= 0 && red <= math.MaxFloat32 && ir <= math.MaxFloat32) {
		e.badAt = e.n
		red, ir = e.lastRed, e.lastIR
	}
	e.add(red, ir)
	if e.n < e.nextUpdate {
		return Estimate{}, false
	}
	e.updates++
	e.nextUpdate = e.updateAt(e.updates + 1)
	return e.analyse(), true
}

// add puts a sample in the window.
func (e *Estimator) add(red, ir float64) {
	if e.since == 0 {
		e.redBP.settle(red)
		e.irBP.settle(ir)
	}
	e.lastRed, e.lastIR = red, ir
	e.redRaw[e.head], e.irRaw[e.head] = red, ir
	e.redAC[e.head], e.ir[e.head] = e.redBP.step(red), e.irBP.step(ir)
	e.head = (e.head + 1) % e.w
	e.filled = min(e.filled+1, e.w)
	e.n++
	e.since++
}

// Lost says that n samples are missing before the next one (the sensor's
// FIFO overflowed). Up to maxBridge seconds are bridged by holding the last
// sample, so a reader a little late costs no values (the checks see any
// harm to a beat); a longer loss restarts the estimator as Restart does.
// Time goes on by n samples either way.
func (e *Estimator) Lost(n int) {
	if n <= 0 {
		return
	}
	if e.since > 0 && float64(n) <= maxBridge*e.fs {
		for range n {
			e.add(e.lastRed, e.lastIR)
		}
		return // an update passed in the bridge comes with the next Push
	}
	// Time is kept as a sample count; a loss is capped at 3 years so that
	// At stays a valid Duration whatever a caller passes.
	e.n += int64(min(n, int(e.fs*1e8)))
	e.Restart()
}

// Restart says that the signal does not continue the last one (the sensor
// was restarted, the finger moved to another sensor): the window empties
// and values are withheld as searching for MinWindow. Estimates stay on
// their schedule.
func (e *Estimator) Restart() {
	e.since, e.filled, e.head = 0, 0, 0
	e.badAt = -1
	e.refSet, e.jumps = false, 0
	e.updates = int64(float64(e.n) / (e.cfg.Update.Seconds() * e.fs))
	e.nextUpdate = e.updateAt(e.updates + 1)
	for e.nextUpdate <= e.n {
		e.updates++
		e.nextUpdate = e.updateAt(e.updates + 1)
	}
}

func (e *Estimator) dur(samples int64) time.Duration {
	return time.Duration(float64(samples) / e.fs * float64(time.Second))
}

func (e *Estimator) analyse() Estimate {
	est := Estimate{At: e.dur(e.n), SpO2: vitals.NoValue, Pulse: vitals.NoValue,
		SpO2Flags: vitals.Uncalibrated, PulseFlags: vitals.Uncalibrated}
	withhold := func(f vitals.Flag, why string) Estimate {
		est.SpO2, est.Pulse, est.R = vitals.NoValue, vitals.NoValue, 0
		est.Reason = why
		est.SpO2Flags |= f
		est.PulseFlags |= f
		return est
	}
	if e.since < e.minW {
		return withhold(vitals.Searching, "too little signal since the start")
	}
	n := e.filled
	lr, li, lra, lia := e.lr[:n], e.li[:n], e.lra[:n], e.lia[:n]
	start := (e.head - n + e.w) % e.w
	for i := range n {
		j := (start + i) % e.w
		lr[i], li[i] = e.redRaw[j], e.irRaw[j]
		// Light falls as blood arrives: negate so that systole is a peak.
		lra[i], lia[i] = -e.redAC[j], -e.ir[j]
	}
	dcR, dcI := mean(lr), mean(li)
	if dcI <= 0 || dcR <= 0 || (e.cfg.MinDC > 0 && dcI < e.cfg.MinDC) {
		return withhold(vitals.ProbeOff, "infrared below the finger level")
	}
	if e.badAt >= 0 && e.n-e.badAt <= int64(n) {
		return withhold(vitals.Artifact, "a sample was not a light level")
	}
	if fsc := e.cfg.FullScale; fsc > 0 && (slices.Max(lr) >= fsc || slices.Max(li) >= fsc) {
		return withhold(vitals.Artifact, "light at full scale (clipped)")
	}
	sdI := stddev(lia)
	// A sine's peak-to-peak is 2√2 σ: the perfusion index of the window
	// before any beat is found, so weak signals say low_perfusion rather
	// than searching.
	est.Perfusion = 2 * math.Sqrt2 * sdI / dcI * 100
	if est.Perfusion < e.cfg.MinPerfusion {
		return withhold(vitals.LowPerfusion, "pulse too weak")
	}
	beats := e.detect(lia, lra, sdI)
	est.Beats = len(beats)
	if len(beats) < 3 || len(beats) == cap(e.beats) {
		return withhold(vitals.Searching, "fewer than 3 beats, or too many")
	}
	// Beat-to-beat intervals (seconds) and their median.
	iv := e.tmp[:0]
	for k := 1; k < len(beats); k++ {
		iv = append(iv, (beats[k].t-beats[k-1].t)/e.fs)
	}
	mi := median(e.tmp2[:0], iv)
	amps := e.tmp[len(iv):len(iv)]
	for _, b := range beats {
		amps = append(amps, b.ampIR)
	}
	ma := median(e.tmp2[:0], amps)
	if mi <= 0 || ma <= 0 {
		return withhold(vitals.Searching, "no beat interval")
	}
	est.Perfusion = ma / dcI * 100
	if est.Perfusion < e.cfg.MinPerfusion {
		return withhold(vitals.LowPerfusion, "beats too weak")
	}
	// A beat counts when its amplitude is within a factor 2 of the median
	// and the interval before it within ±35 % of the median.
	accepted := 0
	for k := range beats {
		b := &beats[k]
		b.ok = b.ampIR > ma/2 && b.ampIR < 2*ma && b.ampR > 0
		if k > 0 {
			d := iv[k-1] / mi
			b.ok = b.ok && d > 0.65 && d < 1.35
		}
		if b.ok {
			accepted++
		}
	}
	est.Quality = e.shapeQuality(lia, beats)
	// The beats must cover the window: more than 2.2 intervals without one
	// at either end (the first needs a dip before it, the last a fall after
	// it) means beats were missed.
	period := mi * e.fs
	missed := beats[0].t > 2.2*period || float64(n)-beats[len(beats)-1].t > 2.2*period
	switch {
	case missed:
		return withhold(vitals.Artifact, "beats missing at an end of the window")
	case float64(accepted) < minAccepted*float64(len(beats)):
		return withhold(vitals.Artifact, "beats of unequal size or spacing")
	case est.Quality < minQuality:
		return withhold(vitals.Artifact, "beat shapes differ")
	case e.amplitudeJump(ma, slices.Max(amps)):
		return withhold(vitals.Artifact, "pulse amplitude jumped")
	}
	pulse := 60 / mi
	if pulse < minPulse || pulse > maxPulse || spread(e.tmp2, iv, mi) > maxIntervalSpread {
		return withhold(vitals.Artifact, "beat intervals spread or out of range")
	}
	if est.Perfusion < 2*e.cfg.MinPerfusion {
		est.SpO2Flags |= vitals.MarginalPerfusion
		est.PulseFlags |= vitals.MarginalPerfusion
	}
	est.Pulse = int16(math.Round(pulse))
	if e.refSet {
		e.refAmp = 0.7*e.refAmp + 0.3*ma
	} else {
		e.refAmp = ma
	}
	e.refSet, e.jumps = true, 0

	// SpO2: the median of the accepted beats' ratios, checked against the
	// ratio of the whole window (red regressed on infrared).
	rs := e.tmp[:0]
	for _, b := range beats {
		if b.ok {
			rs = append(rs, upstrokeSlope(lia, lra, b)*dcI/dcR)
		}
	}
	r := median(e.tmp2[:0], rs)
	var sxy, sxx, syy float64
	for i := range lia {
		sxy += lra[i] * lia[i]
		sxx += lia[i] * lia[i]
		syy += lra[i] * lra[i]
	}
	if sxx == 0 || syy == 0 {
		est.SpO2Flags |= vitals.Artifact
		est.Reason = "no red or infrared pulse"
		return est
	}
	rho := sxy / math.Sqrt(sxx*syy)
	rReg := sxy / sxx * dcI / dcR
	spo2 := e.cfg.Calibration.SpO2(r)
	switch {
	case rho < minRedIR:
		est.Reason = "red and infrared do not move together"
	case !(r > 0) || math.Abs(e.cfg.Calibration.SpO2(r+r*spread(e.tmp2, rs, r))-spo2) > maxSpO2Spread:
		est.Reason = "the beats' ratios spread"
	case math.Abs(rReg-r) > maxRDisagree*r:
		est.Reason = "beat and window ratios disagree"
	case !(spo2 >= minSpO2):
		est.Reason = "SpO2 below the curve's range"
	}
	if est.Reason != "" {
		est.SpO2Flags |= vitals.Artifact
		return est
	}
	est.R = r
	est.SpO2 = int16(math.Round(min(spo2, 100)))
	return est
}

// amplitudeJump reports whether the median pulse amplitude ma moved by more
// than a factor maxJump from the last good windows', or one beat (largest)
// is bigger than 2·maxJump times it (motion, a knock, a squeeze), for up to
// jumpTime: a change that lasts longer is taken as the new level (the
// finger settled differently).
func (e *Estimator) amplitudeJump(ma, largest float64) bool {
	if !e.refSet || (ma < maxJump*e.refAmp && ma > e.refAmp/maxJump && largest < 2*maxJump*e.refAmp) {
		return false
	}
	e.jumps++
	if float64(e.jumps)*e.cfg.Update.Seconds() > jumpTime {
		e.refSet, e.jumps = false, 0
		return false
	}
	return true
}

// detect finds beats in x (infrared, band-passed, systole up) with a
// hysteresis of hysteresis·sd: a candidate is the lowest point of a dip
// below −h and the highest point of the rise above +h after it, kept once
// the signal falls below −h again (so the last, unfinished beat waits for
// the next window). Candidates smaller than 0.4 times the upper quartile of
// their amplitudes (a dicrotic wave, a ripple) are folded into the next
// beat, whose trough becomes the lower of the two; then beats closer than
// the refractory period are one. y is red, read at the same indices.
func (e *Estimator) detect(x, y []float64, sd float64) []beat {
	beats := e.beats[:0]
	h := hysteresis * sd
	const unknown, below, above = 0, 1, 2
	state, trough, peak := unknown, 0, 0
	for i, v := range x {
		switch state {
		case unknown:
			if v < -h {
				state, trough = below, i
			}
		case below:
			if v < x[trough] {
				trough = i
			}
			if v > h {
				state, peak = above, i
			}
		case above:
			if v > x[peak] {
				peak = i
			}
			if v < -h {
				if len(beats) == cap(beats) {
					return beats // too many: the caller withholds
				}
				beats = append(beats, beat{trough: trough, peak: peak})
				state, trough = below, i
			}
		}
	}
	if len(beats) == 0 {
		return beats
	}
	amps := e.tmp[:0]
	for _, b := range beats {
		amps = append(amps, x[b.peak]-x[b.trough])
	}
	slices.Sort(amps)
	floor := 0.4 * amps[(len(amps)*3)/4]
	kept := beats[:0]
	lowest := -1 // the lowest trough of candidates folded since the last beat
	for _, b := range beats {
		if lowest >= 0 && x[lowest] < x[b.trough] {
			b.trough = lowest
		}
		if x[b.peak]-x[b.trough] < floor {
			lowest = b.trough
			continue
		}
		lowest = -1
		if n := len(kept); n > 0 && float64(b.peak-kept[n-1].peak) < refractory*e.fs {
			last := &kept[n-1]
			if x[b.peak] > x[last.peak] {
				last.peak = b.peak
			}
			continue
		}
		kept = append(kept, b)
	}
	for k := range kept {
		b := &kept[k]
		b.t = float64(b.peak)
		if p := b.peak; p > 0 && p < len(x)-1 {
			a, c, d := x[p-1], x[p+1], x[p-1]-2*x[p]+x[p+1]
			if d < 0 {
				b.t += 0.5 * (a - c) / d
			}
		}
		b.ampIR, b.ampR = x[b.peak]-x[b.trough], y[b.peak]-y[b.trough]
	}
	return kept
}

// shapeQuality resamples each beat (peak to next peak: the systolic peak is
// the sharpest landmark) to segLen points
// and gives the mean correlation of the beats with their average.
func (e *Estimator) shapeQuality(x []float64, beats []beat) float64 {
	ns := 0
	for k := 0; k+1 < len(beats); k++ {
		a, b := beats[k].peak, beats[k+1].peak
		if b-a < 2 {
			continue
		}
		seg := e.segs[ns*segLen : (ns+1)*segLen]
		for j := range seg {
			p := float64(a) + float64(j)*float64(b-a)/(segLen-1)
			i := min(int(p), len(x)-2)
			f := p - float64(i)
			seg[j] = x[i]*(1-f) + x[i+1]*f
		}
		m := mean(seg)
		for j := range seg {
			seg[j] -= m
		}
		ns++
	}
	if ns < 2 {
		return 0
	}
	clear(e.tmpl[:])
	for s := range ns {
		for j, v := range e.segs[s*segLen : (s+1)*segLen] {
			e.tmpl[j] += v / float64(ns)
		}
	}
	var sum float64
	for s := range ns {
		var xy, xx, yy float64
		for j, v := range e.segs[s*segLen : (s+1)*segLen] {
			xy += v * e.tmpl[j]
			xx += v * v
			yy += e.tmpl[j] * e.tmpl[j]
		}
		if xx > 0 && yy > 0 {
			sum += xy / math.Sqrt(xx*yy)
		}
	}
	return sum / float64(ns)
}

func mean(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func stddev(x []float64) float64 {
	m := mean(x)
	var s float64
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	if len(x) == 0 {
		return 0
	}
	return math.Sqrt(s / float64(len(x)))
}

// upstrokeSlope is the least-squares slope of red on infrared over a beat's
// rise from trough to peak: every sample of the rise counts, not only its
// two ends, so noise weighs less than in a trough-to-peak ratio.
func upstrokeSlope(x, y []float64, b beat) float64 {
	lo, hi := b.trough, b.peak
	if hi-lo < 2 {
		return b.ampR / b.ampIR
	}
	n := float64(hi - lo + 1)
	var sx, sy float64
	for i := lo; i <= hi; i++ {
		sx += x[i]
		sy += y[i]
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for i := lo; i <= hi; i++ {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}

// spread is the median absolute deviation of x from m, over m, using buf
// (whose capacity must hold x) for scratch.
func spread(buf, x []float64, m float64) float64 {
	d := buf[:0]
	for _, v := range x {
		d = append(d, math.Abs(v-m))
	}
	return median(d, d) / m
}

// median of x, sorted in buf (whose capacity must hold x).
func median(buf, x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	buf = append(buf[:0], x...)
	slices.Sort(buf)
	n := len(buf)
	if n%2 == 1 {
		return buf[n/2]
	}
	return (buf[n/2-1] + buf[n/2]) / 2
}
