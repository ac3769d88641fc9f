package ppgdata

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"path"
	"strconv"
	"strings"
)

// OxiWearSource says where the OxiWear recordings are; they are not in this
// repository (the project publishes no licence for them).
const OxiWearSource = "https://github.com/aarusso/OxiWear spo2-data/proto1 (one subject, induced hypoxia, MAXM86161 eval kit, 64 Hz; no licence file)"

// OxiWearRate is the sample rate the OxiWear README states for proto1.
const OxiWearRate = 64

// ReadOxiWear reads one file of the OxiWear spo2-data/proto1 folder: a
// header of MAXM86161 registers, then rows of
// timestamp,sampleNum,tagLEDC1..3,LEDC1,LEDC2,LEDC3,... where LEDC1 is
// infrared and LEDC2 red, at 64 Hz (the README's rate: the host timestamps
// come in bursts and do not give it). The reference SpO2 and pulse are in
// the file name, "<time>-<SpO2>-<HR>[_-]*.csv", and hold for the whole
// clip. The first samples, while the part's LEDs settle (each a jump of
// more than 2 % from the next), are dropped.
func ReadOxiWear(r io.Reader, name string) (*Recording, error) {
	base := strings.TrimSuffix(path.Base(name), ".csv")
	parts := strings.Split(strings.TrimRight(base, "_-"), "-")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%s: name is not <time>-<SpO2>-<HR>.csv", name)
	}
	spo2, err1 := strconv.Atoi(parts[1])
	hr, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || spo2 < 50 || spo2 > 100 || hr < 20 || hr > 300 {
		return nil, fmt.Errorf("%s: no reference SpO2 and pulse in the name", name)
	}
	rec := &Recording{Name: path.Base(name), Rate: OxiWearRate, Comments: []string{
		"source: " + OxiWearSource,
		"file: " + path.Base(name),
		fmt.Sprintf("reference: SpO2 %d %%, pulse %d /min (from the file name)", spo2, hr),
	}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line, irCol, redCol := 0, -1, -1
	for sc.Scan() {
		line++
		f := strings.Split(strings.TrimSpace(sc.Text()), ",")
		if irCol < 0 {
			for i, c := range f {
				switch c {
				case "LEDC1":
					irCol = i
				case "LEDC2":
					redCol = i
				}
			}
			if irCol >= 0 && redCol < 0 {
				return nil, fmt.Errorf("%s:%d: LEDC1 without LEDC2", name, line)
			}
			continue
		}
		if len(f) <= max(irCol, redCol) || f[1] == "" {
			continue // the trailer: elapsed time, counts
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		ir, err1 := strconv.ParseFloat(f[irCol], 64)
		red, err2 := strconv.ParseFloat(f[redCol], 64)
		if err1 != nil || err2 != nil || !(ir >= 0) || !(red >= 0) || math.IsInf(ir+red, 0) {
			return nil, fmt.Errorf("%s:%d: LEDC1 %q, LEDC2 %q: not light levels", name, line, f[irCol], f[redCol])
		}
		rec.IR = append(rec.IR, ir)
		rec.Red = append(rec.Red, red)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line, err)
	}
	if irCol < 0 {
		return nil, fmt.Errorf("%s: no LEDC1/LEDC2 header", name)
	}
	// Drop the settling samples.
	jump := func(a, b float64) bool { return math.Abs(a-b) > 0.02*math.Max(b, 1) }
	k := 0
	for k+1 < len(rec.IR) && (jump(rec.IR[k], rec.IR[k+1]) || jump(rec.Red[k], rec.Red[k+1])) {
		k++
	}
	rec.IR, rec.Red = rec.IR[k:], rec.Red[k:]
	if len(rec.IR) < 2 {
		return nil, fmt.Errorf("%s: no samples", name)
	}
	rec.RefSpO2 = make([]float64, len(rec.IR))
	rec.RefHR = make([]float64, len(rec.IR))
	for i := range rec.IR {
		rec.RefSpO2[i], rec.RefHR[i] = float64(spo2), float64(hr)
	}
	return rec, nil
}
