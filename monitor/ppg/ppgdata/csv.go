// Package ppgdata reads photoplethysmogram recordings for checking package
// ppg's accuracy: one simple CSV format that any recording can be converted
// to, a converter for the public OxiWear recordings, and the figures
// (SpO2 Arms and bias, pulse-rate error) against a reference oximeter.
//
// # The CSV format
//
//	# lines starting with # are comments (source, licence, device, rate)
//	time,red,ir,ref_spo2,ref_hr
//	0.000000,78373,97843,79,79
//	0.015625,78365,97863,,
//
// A header row names the columns, in any order: time (seconds, from any
// origin, strictly increasing; the sample rate is taken from it: steps may
// jitter by up to half the median step, a step of k medians says k − 1
// samples were lost, a step under half the median is refused), red and ir (light, any linear unit, non-negative), and optionally
// ref_spo2 (%) and ref_hr (/min), a reference oximeter's readings, empty
// where none was taken. A reference value holds for the rows after it until
// the next. Other columns are refused, so a misspelt name is not silently
// ignored.
package ppgdata

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Recording is red and infrared light at an even rate, with a reference
// where one was taken (NaN where not).
type Recording struct {
	Name           string
	Rate           float64 // samples per second
	Red, IR        []float64
	RefSpO2, RefHR []float64 // per sample, NaN when unknown
	// Lost says how many samples are missing before sample i (only where
	// some are), from the gaps in the time column.
	Lost     map[int]int
	Comments []string
}

// Len is the number of samples.
func (r *Recording) Len() int { return len(r.Red) }

// ReadCSV reads a recording in the CSV format above. Errors name the line.
func ReadCSV(rd io.Reader, name string) (*Recording, error) {
	rec := &Recording{Name: name}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var col map[string]int
	var times []float64
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if strings.HasPrefix(text, "#") {
			rec.Comments = append(rec.Comments, strings.TrimSpace(text[1:]))
			continue
		}
		fields := strings.Split(text, ",")
		if col == nil {
			col = map[string]int{}
			for i, f := range fields {
				f = strings.TrimSpace(f)
				switch f {
				case "time", "red", "ir", "ref_spo2", "ref_hr":
				default:
					return nil, fmt.Errorf("%s:%d: unknown column %q (want time, red, ir, ref_spo2, ref_hr)", name, line, f)
				}
				if _, dup := col[f]; dup {
					return nil, fmt.Errorf("%s:%d: column %q twice", name, line, f)
				}
				col[f] = i
			}
			for _, need := range []string{"time", "red", "ir"} {
				if _, ok := col[need]; !ok {
					return nil, fmt.Errorf("%s:%d: no %q column", name, line, need)
				}
			}
			continue
		}
		if len(fields) != len(col) {
			return nil, fmt.Errorf("%s:%d: %d fields, the header has %d", name, line, len(fields), len(col))
		}
		get := func(c string, optional bool) (float64, error) {
			i, ok := col[c]
			if !ok {
				return math.NaN(), nil
			}
			f := strings.TrimSpace(fields[i])
			if f == "" && optional {
				return math.NaN(), nil
			}
			v, err := strconv.ParseFloat(f, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("%s:%d: %s %q is not a number", name, line, c, f)
			}
			return v, nil
		}
		var v [5]float64
		for i, c := range []string{"time", "red", "ir", "ref_spo2", "ref_hr"} {
			x, err := get(c, i >= 3)
			if err != nil {
				return nil, err
			}
			v[i] = x
		}
		switch {
		case v[1] < 0 || v[2] < 0:
			return nil, fmt.Errorf("%s:%d: negative light", name, line)
		case len(times) > 0 && !(v[0] > times[len(times)-1]):
			return nil, fmt.Errorf("%s:%d: time %v does not follow %v", name, line, v[0], times[len(times)-1])
		case v[3] < 0 || v[3] > 100:
			return nil, fmt.Errorf("%s:%d: ref_spo2 %v is not a percentage", name, line, v[3])
		case v[4] < 0 || v[4] > 400:
			return nil, fmt.Errorf("%s:%d: ref_hr %v is not a pulse rate", name, line, v[4])
		}
		times = append(times, v[0])
		rec.Red = append(rec.Red, v[1])
		rec.IR = append(rec.IR, v[2])
		rec.RefSpO2 = append(rec.RefSpO2, v[3])
		rec.RefHR = append(rec.RefHR, v[4])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line, err)
	}
	if len(times) < 2 {
		return nil, fmt.Errorf("%s: %d samples: too short", name, len(times))
	}
	rate, lost, err := sampleRate(times)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	rec.Rate, rec.Lost = rate, lost
	// A reference holds until the next one.
	for _, ref := range [][]float64{rec.RefSpO2, rec.RefHR} {
		for i := 1; i < len(ref); i++ {
			if math.IsNaN(ref[i]) {
				ref[i] = ref[i-1]
			}
		}
	}
	return rec, nil
}

// sampleRate gives the sample rate of times and the samples missing before
// each (by index, only where some are). A step within half to one and a half
// times the median step is one sample (host timestamps jitter); a longer
// step is round(step/median) − 1 lost samples; a shorter one means doubled
// samples and is an error.
func sampleRate(times []float64) (float64, map[int]int, error) {
	steps := make([]float64, len(times)-1)
	for i := range steps {
		steps[i] = times[i+1] - times[i]
	}
	s := slices.Clone(steps)
	slices.Sort(s)
	med := s[len(s)/2]
	if !(med > 0) || math.IsInf(med, 0) {
		return 0, nil, fmt.Errorf("median time step %v s: no sample rate", med)
	}
	var lost map[int]int
	total := 0
	for i, d := range steps {
		switch {
		case d < 0.5*med:
			return 0, nil, fmt.Errorf("sample %d: time step %.6f s, under half the median %.6f s: doubled samples?", i+1, d, med)
		case d >= 1.5*med:
			k := int(math.Round(d/med)) - 1
			if k > 1<<24 {
				return 0, nil, fmt.Errorf("sample %d: a gap of %.0f s", i+1, d)
			}
			if lost == nil {
				lost = map[int]int{}
			}
			lost[i+1] = k
			total += k
		}
	}
	rate := float64(len(steps)+total) / (times[len(times)-1] - times[0])
	if math.IsInf(rate, 0) || !(rate > 0) {
		return 0, nil, fmt.Errorf("time span %v s: no sample rate", times[len(times)-1]-times[0])
	}
	return rate, lost, nil
}

// WriteCSV writes rec in the CSV format, its comments first; lost samples
// show as longer time steps.
func WriteCSV(w io.Writer, rec *Recording) error {
	if rec.Rate <= 0 {
		return errors.New("ppgdata: recording without a rate")
	}
	bw := bufio.NewWriter(w)
	for _, c := range rec.Comments {
		fmt.Fprintf(bw, "# %s\n", c)
	}
	fmt.Fprintln(bw, "time,red,ir,ref_spo2,ref_hr")
	num := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	skipped := 0
	for i := range rec.Red {
		skipped += rec.Lost[i]
		var s, h float64 = math.NaN(), math.NaN()
		if i < len(rec.RefSpO2) {
			s = rec.RefSpO2[i]
		}
		if i < len(rec.RefHR) {
			h = rec.RefHR[i]
		}
		fmt.Fprintf(bw, "%.6f,%s,%s,%s,%s\n", float64(i+skipped)/rec.Rate, num(rec.Red[i]), num(rec.IR[i]), num(s), num(h))
	}
	return bw.Flush()
}
