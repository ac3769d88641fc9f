// Package sim is the scenario model behind vitalsim and the daemon's
// in-process `driver = "sim"`: a patient's course written as a TOML file, and
// its evaluation as a pure function of elapsed scenario time.
//
// A scenario is read strictly (Load, Parse): unknown keys, wrong types, bad
// durations, entries out of time order, values or ramps outside what a
// patient and the emulated devices can show, an unplug of a cable that is
// already out: every problem is reported at once, naming the file and the key
// (monitor/tomlcheck), and a scenario with any error is not returned.
//
// Evaluation has no clock and no goroutines, so tests never sleep:
//
//   - Scenario.At(t) gives the State at elapsed time t: SpO2, pulse and the
//     blood pressure the next NIBP measurement reports, with ramps
//     interpolated linearly; probe, perfusion and artifact bursts; the NIBP
//     cycle length and whether the module is silent; which cables are in.
//   - Scenario.Events lists the one-shot events (an NIBP error for the next
//     measurement, unplug, replug, a garbage burst) in time order, and a
//     Cursor hands out the timeline entries as time passes, each once.
//
// The caller owns the clock: vitalsim multiplies real time by -speed, a test
// passes whatever t it likes.
//
// # Scenario file
//
//	name = "desaturation"                 # required
//	description = "free text"             # optional
//	duration = "60m"                      # optional: the scenario's length (entries must fit)
//
//	[start]                               # required: the state at t = 0
//	spo2 = 97                             # required, 1..100 %
//	pulse = 72                            # required, 20..250 /min
//	perfusion = "good"                    # good | marginal | low; default good
//	probe = "on"                          # on | off; default on
//	bp = { systolic = 124, diastolic = 80, mean = 95, pulse = 70 }
//	                                      # required: what the next NIBP measurements give;
//	                                      # mean defaults to dia + (sys - dia) / 3, pulse to the oximeter's
//	nibp_duration = "30s"                 # one NIBP cycle, 1s..10m; default 30s
//	nibp_silent = false                   # the module stops answering; default false
//
//	[[at]]                                # any number, in time order (equal times apply in file order)
//	t = "12m30s"                          # required: elapsed scenario time
//	spo2 = { to = 85, over = "2m" }       # a ramp from the value at t, or a plain value: spo2 = 85
//	pulse = 110                           # same forms as spo2
//	bp = { systolic = { to = 160, over = "20m" }, diastolic = 95 }   # any of the four fields, each a value or a ramp
//	probe = "off"                         # off | on
//	perfusion = "low"                     # good | marginal | low
//	artifact = "20s"                      # a motion-artifact burst this long
//	nibp_error = 0x57                     # the next measurement fails with this module code (1..255)
//	nibp_silent = true                    # the module stops (true) or resumes (false) answering
//	nibp_duration = "45s"                 # later cycles last this long
//	unplug = "nonin"                      # nonin | cms50 | suntech: the cable is pulled
//	replug = "nonin"                      # ... and put back
//	garbage = { device = "nonin", bytes = 200 }   # a burst of random bytes on that line (1..65536)
//
// Every time is a Go duration string of at most 24h. A value set or ramp on a
// field replaces whatever that field was doing; a ramp starts from the value
// at its t, mid-ramp or not. Systolic must stay above diastolic (by at least
// 1 mm[Hg]) and a given mean between them, at every moment, ramps included.
// Several one-shots of one kind at the same t need one [[at]] entry each (two
// nibp_error entries fail the next two measurements).
package sim
