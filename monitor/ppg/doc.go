// Package ppg computes SpO2 and pulse rate from raw red and infrared light
// (a photoplethysmogram), as a MAX30102 gives it, and says when it cannot.
//
// It is pure: no I/O and no clock. Its only time base is the sample rate
// and the sample count, so a recording replays exactly and tests run in
// microseconds. It works at any rate from 25 to 400 samples a second (every
// time constant is in seconds, the filters are designed for the rate given)
// and does not allocate after New.
//
// # Method
//
// Each channel goes through the pulse band (2nd-order Butterworth high-pass
// at 0.5 Hz and low-pass at 5 Hz, started in their steady state so the first
// samples ring nothing). Once a second (Config.Update) the last 8 s
// (Config.Window) are analysed:
//
//   - probe_off when the infrared mean is below Config.MinDC; artifact when
//     a sample was not a finite non-negative number or the window touches
//     Config.FullScale (clipped light has no ratio);
//   - low_perfusion when the infrared pulsatile fraction (perfusion index) is
//     below 0.1 %, marginal_perfusion under 0.2 %;
//   - beats: a hysteresis detector (±0.3 σ) on the infrared pulse, then
//     small candidates (under 0.4 times the upper quartile: dicrotic waves,
//     ripples) folded into the next beat and beats closer than 0.24 s
//     merged; peak times interpolated between samples;
//   - the pulse rate is 60 over the median beat interval;
//   - SpO2 comes from the ratio of ratios R = (AC_red/DC_red)/(AC_ir/DC_ir),
//     the median over beats of the slope of red on infrared along each
//     beat's upstroke (every sample of the rise, not its two ends), checked
//     against the whole window's regression of red on infrared, and mapped
//     by Config.Calibration (DefaultCalibration: 107.3 − 28.2·R, fitted
//     on half of one public recording; see its doc).
//
// A value is withheld (vitals.NoValue) with a flag rather than shown when
// the signal does not support it: searching for the first 5 s after a start,
// a Restart or a Lost too long to bridge (over 0.1 s), and when fewer than 3 beats are found; artifact when beats are
// missing at either end of the window, fewer than two thirds of the beats
// pass the amplitude (within 2× the median) and interval (±35 %) checks,
// the beats' shapes correlate with their average less than 0.86 (the
// signal-quality index, Estimate.Quality), the pulse amplitude jumps by
// more than 1.8× from the last good windows (for up to 10 s: motion), the
// intervals spread more than 10 % (pulse) or the beats' SpO2 more than 2
// points (both as median absolute deviations), red and infrared correlate
// less than 0.8, or the beats' ratio and the window's disagree by more than
// 20 %. SpO2 under 50 is withheld (no curve is known there); over 100 is
// shown as 100. Estimate.Reason says which check failed. Every value
// carries uncalibrated.
//
// # Compared with the vendor's reference code
//
// Maxim's RD117 (maxim_heart_rate_and_oxygen_saturation) runs at 25 sps
// only, on 4 s, with absolute thresholds clamped to fixed counts, a moving
// average whose last 3 outputs are stale but used, no quality measure
// (invalid is −999, anything else is shown) and no perfusion, probe or
// clipping check. This package works at any rate, scales every threshold
// to the signal, withholds rather than guesses, and says why.
//
// # Accuracy
//
// Package ppgdata and `make accuracy` check it on recordings with a
// reference oximeter. On the one public set used (OxiWear: one subject,
// 70-98 %, a MAXM86161, clips of 3-6 s) the held-out half gives SpO2 Arms
// 4.2, bias +1.8 with the default curve fitted on the other half, and pulse
// Arms 4.6/min; docs/design.md has the whole table, the textbook baseline
// beside it, and what so little data can and cannot show. The default curve
// is not a calibration of any part: the curve depends on the LEDs'
// wavelengths and on the people, and only a desaturation study against
// arterial blood (ISO 80601-2-61) can calibrate it. A board whose red and
// infrared LEDs are swapped (clones exist) inverts R: it reads low SpO2 or
// nothing, and cannot be told apart from the light alone.
package ppg
