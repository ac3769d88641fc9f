package ppgdata

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/ppg"
	"github.com/chairside/chairside/monitor/vitals"
)

func TestCSVRoundTrip(t *testing.T) {
	rec := &Recording{Name: "x", Rate: 50, Comments: []string{"made by a test"}}
	for i := range 500 {
		rec.Red = append(rec.Red, 90000+float64(i%7))
		rec.IR = append(rec.IR, 120000+float64(i%5))
		ref := math.NaN()
		if i%100 == 0 {
			ref = 95 - float64(i/100)
		}
		rec.RefSpO2 = append(rec.RefSpO2, ref)
		rec.RefHR = append(rec.RefHR, math.NaN())
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, rec); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCSV(&buf, "x.csv")
	if err != nil {
		t.Fatal(err)
	}
	if got.Rate < 49.999 || got.Rate > 50.001 || got.Len() != 500 || got.Comments[0] != "made by a test" {
		t.Fatalf("rate %v, len %d, comments %q", got.Rate, got.Len(), got.Comments)
	}
	for i := range 500 {
		if got.Red[i] != rec.Red[i] || got.IR[i] != rec.IR[i] {
			t.Fatalf("sample %d: %v %v", i, got.Red[i], got.IR[i])
		}
		// A reference holds until the next one.
		if want := 95 - float64(i/100); got.RefSpO2[i] != want {
			t.Fatalf("sample %d: ref %v, want %v", i, got.RefSpO2[i], want)
		}
		if !math.IsNaN(got.RefHR[i]) {
			t.Fatalf("sample %d: ref HR %v from nowhere", i, got.RefHR[i])
		}
	}
}

func TestCSVColumnsInAnyOrder(t *testing.T) {
	in := "ir,time,red\n100,0,50\n101,0.01,51\n102,0.02,52\n"
	rec, err := ReadCSV(strings.NewReader(in), "o.csv")
	if err != nil {
		t.Fatal(err)
	}
	if rec.IR[2] != 102 || rec.Red[2] != 52 || math.Abs(rec.Rate-100) > 1e-9 || !math.IsNaN(rec.RefSpO2[0]) {
		t.Fatalf("%+v", rec)
	}
}

func TestCSVErrorsNameTheLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"time,red,ir,spo2\n", ":1: unknown column \"spo2\""},
		{"time,red\n0,1\n", ":1: no \"ir\" column"},
		{"time,red,red,ir\n", "column \"red\" twice"},
		{"time,red,ir\n0,1,2\n0.01,1\n", ":3: 2 fields"},
		{"time,red,ir\n0,1,2\n0.01,x,2\n", ":3: red \"x\" is not a number"},
		{"time,red,ir\n0,1,2\n0.01,NaN,2\n", ":3: red \"NaN\" is not a number"},
		{"time,red,ir\n0,1,2\n0.01,-1,2\n", ":3: negative light"},
		{"time,red,ir\n0,1,2\n0,1,2\n", ":3: time 0 does not follow 0"},
		{"time,red,ir,ref_spo2\n0,1,2,101\n", ":2: ref_spo2 101"},
		{"time,red,ir,ref_hr\n0,1,2,-3\n", ":2: ref_hr -3"},
		{"time,red,ir\n0,1,2\n", "1 samples: too short"},
		{"time,red,ir\n0,1,2\n0.01,1,2\n0.02,1,2\n0.024,1,2\n0.034,1,2\n", "sample 3: time step 0.004000 s, under half"},
		{"", "0 samples"},
	} {
		_, err := ReadCSV(strings.NewReader(c.in), "f.csv")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want %q", c.in, err, c.want)
		}
	}
}

// oxiwearFile builds a file in the OxiWear proto1 layout (header of
// registers, the column row, samples, trailer) from the given light levels.
func oxiwearFile(ir, red []float64) string {
	var b strings.Builder
	b.WriteString("MAXM86161reg0x0D,MAXM86161reg0x10,\n0x02,0x00,\nstart time,1596743748320\nexpected tags,1,2,3,\n")
	b.WriteString("timestamp,sampleNum,tagLEDC1,tagLEDC2,tagLEDC3,LEDC1,LEDC2,LEDC3,ACCX,ACCY,ACCZ,temperature,RTC,sensor,regAddr,val,I2Caddr,\n")
	for i := range ir {
		fmt.Fprintf(&b, "%.6f,%d,0,0,0,%.6f,%.6f,1234.000000,1,2,3,,,,,,,\n", 1596743748639.657+float64(i)*15.6, i+1, ir[i], red[i])
	}
	b.WriteString("elapsed capture time: 0h00m04s\nmissed packet count: 0\nincorrect tag count: 111\n")
	return b.String()
}

func TestReadOxiWear(t *testing.T) {
	ir := []float64{58000, 91000, 98000, 98010, 98020, 98030}
	red := []float64{58000, 79000, 79010, 79020, 79030, 79040}
	rec, err := ReadOxiWear(strings.NewReader(oxiwearFile(ir, red)), "spo2-data/proto1/1529-90-73-.csv")
	if err != nil {
		t.Fatal(err)
	}
	// The settling samples (58000, then 91000 → 98000) are dropped.
	if rec.Len() != 4 || rec.IR[0] != 98000 || rec.Red[0] != 79010 {
		t.Fatalf("IR %v red %v", rec.IR, rec.Red)
	}
	if rec.Rate != 64 || rec.RefSpO2[3] != 90 || rec.RefHR[0] != 73 || rec.Name != "1529-90-73-.csv" {
		t.Fatalf("%+v", rec)
	}
	for _, bad := range []string{"1529-90.csv", "1529-x-73.csv", "1529-30-73.csv", "1529-90-900.csv"} {
		if _, err := ReadOxiWear(strings.NewReader(oxiwearFile(ir, red)), bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	if _, err := ReadOxiWear(strings.NewReader("a,b\n1,2\n"), "1-90-70.csv"); err == nil || !strings.Contains(err.Error(), "no LEDC1") {
		t.Errorf("no header: %v", err)
	}
	broken := strings.Replace(oxiwearFile(ir, red), "98010.000000", "x", 1)
	if _, err := ReadOxiWear(strings.NewReader(broken), "1-90-70.csv"); err == nil || !strings.Contains(err.Error(), ":9:") {
		t.Errorf("bad level: %v", err)
	}
}

func TestFitLineRecoversALine(t *testing.T) {
	var pairs []Pair
	for i := range 20 {
		r := 0.4 + 0.05*float64(i)
		pairs = append(pairs, Pair{R: r, RefSpO2: 105 - 30*r, BaseR: r})
	}
	pairs = append(pairs, Pair{R: 0, RefSpO2: 50}, Pair{R: 1, RefSpO2: math.NaN()}) // ignored
	c, err := FitLine(pairs, false, "t")
	if err != nil || math.Abs(c.A-105) > 1e-9 || math.Abs(c.B+30) > 1e-9 {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := FitLine(pairs[:2], false, "t"); err == nil {
		t.Error("fitted 2 points")
	}
}

func TestFigures(t *testing.T) {
	c := ppg.Calibration{A: 100, B: -10}
	pairs := []Pair{
		{R: 1, RefSpO2: 88, Pulse: 60, RefHR: 62},             // 90: +2
		{R: 2, RefSpO2: 82, Pulse: 70, RefHR: 70},             // 80: −2
		{R: 0, RefSpO2: 90, Pulse: vitals.NoValue, RefHR: 70}, // withheld
		{R: 1, RefSpO2: math.NaN(), RefHR: math.NaN()},        // no reference
		{R: 6, RefSpO2: 40, Pulse: 50, RefHR: 50},             // 40 is under the curve's range: withheld
	}
	f := SpO2Figures(pairs, c, false)
	if f.N != 2 || f.Withheld != 2 || f.Arms != 2 || f.Bias != 0 || f.MaxAbs != 2 {
		t.Fatalf("%+v", f)
	}
	p := PulseFigures(pairs, false)
	if p.N != 3 || p.Withheld != 1 || math.Abs(p.Bias+2.0/3) > 1e-9 {
		t.Fatalf("%+v", p)
	}
}

// The baseline on a pure pulse: red and IR sines with a known ratio and rate.
func TestBaseline(t *testing.T) {
	const rate, bpm, r = 100.0, 72.0, 0.7
	var red, ir []float64
	for i := range 800 {
		s := math.Sin(2 * math.Pi * bpm / 60 * float64(i) / rate)
		ir = append(ir, 100000*(1+0.01*s))
		red = append(red, 80000*(1+0.01*r*s))
	}
	gotR, hr := Baseline(red, ir, rate)
	if math.Abs(gotR-r) > 0.01 || math.Abs(hr-bpm) > 1.5 {
		t.Fatalf("R %.3f, HR %.1f", gotR, hr)
	}
}

// Evaluate on a recording of the estimator's own synthetic kind: the pairs
// carry the reference at their time and the estimator's values.
func TestEvaluate(t *testing.T) {
	rec := &Recording{Name: "s", Rate: 50}
	r := (ppg.DefaultCalibration.A - 92) / -ppg.DefaultCalibration.B
	for i := range 50 * 20 {
		ph := 70.0 / 60 * float64(i) / 50
		p := math.Pow(math.Sin(math.Pi*(ph-math.Floor(ph))), 3)
		rec.IR = append(rec.IR, 120000*(1-0.01*p))
		rec.Red = append(rec.Red, 90000*(1-0.01*r*p))
		rec.RefSpO2 = append(rec.RefSpO2, 92)
		rec.RefHR = append(rec.RefHR, 70)
	}
	pairs, err := Evaluate(rec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 20 {
		t.Fatalf("%d pairs", len(pairs))
	}
	f := SpO2Figures(pairs, ppg.DefaultCalibration, false)
	if f.N < 14 || f.Arms > 1.5 {
		t.Fatalf("SpO2 %v", f)
	}
	if p := PulseFigures(pairs, false); p.N < 14 || p.Arms > 1.5 {
		t.Fatalf("pulse %v", p)
	}
	// 2 s lost after 10 s: time goes on by them, and the estimator starts
	// afresh (searching) after them; no estimate falls inside the gap.
	rec.Lost = map[int]int{500: 100}
	gap, err := Evaluate(rec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(gap); n != 20 || gap[n-1].At != 22*time.Second || gap[11].Flags&vitals.Searching == 0 {
		t.Fatalf("with a loss: %d pairs, last at %v, pair 11 %+v", n, gap[n-1].At, gap[11])
	}
	rec.Lost = nil
	last, err := Evaluate(rec, Options{LastOnly: true})
	if err != nil || len(last) != 1 || last[0].At != pairs[len(pairs)-1].At {
		t.Fatalf("last only: %+v %v", last, err)
	}
}

// Host timestamps jitter; a long step is lost samples, which Evaluate hands
// to the estimator.
func TestCSVJitterAndLoss(t *testing.T) {
	in := "time,red,ir\n0,1,2\n0.012,1,2\n0.019,1,2\n0.030,1,2\n0.070,1,2\n0.080,1,2\n"
	rec, err := ReadCSV(strings.NewReader(in), "j.csv")
	if err != nil {
		t.Fatal(err)
	}
	// Steps 12, 7, 11 ms are samples; 40 ms is 3 lost; 10 ms a sample:
	// 5 steps + 3 lost over 80 ms.
	if math.Abs(rec.Rate-100) > 1e-9 || len(rec.Lost) != 1 || rec.Lost[4] != 3 {
		t.Fatalf("rate %v, lost %v", rec.Rate, rec.Lost)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, rec); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCSV(&buf, "back.csv")
	if err != nil || back.Lost[4] != 3 || back.Len() != 6 {
		t.Fatalf("written back: %v %v", back, err)
	}
}
