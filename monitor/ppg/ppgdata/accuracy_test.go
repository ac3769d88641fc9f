package ppgdata

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/ppg"
)

// The accuracy command (make accuracy DATA=dir or OXIWEAR=dir):
//
//	go test -run '^TestAccuracy$' -v ./monitor/ppg/ppgdata -args -data DIR
//	go test -run '^TestAccuracy$' -v ./monitor/ppg/ppgdata -args -oxiwear OxiWear/spo2-data/proto1 [-convert OUTDIR]
//	go test -run '^TestAccuracy$' -v ./monitor/ppg/ppgdata -args -data OUTDIR -minwindow 3s -lastonly (the same figures)
var (
	dataDir    = flag.String("data", "", "directory of recordings in the ppgdata CSV format (*.csv)")
	oxiwearDir = flag.String("oxiwear", "", "the OxiWear spo2-data/proto1 directory")
	convertDir = flag.String("convert", "", "with -oxiwear: also write the recordings here in the CSV format")
	lastOnly   = flag.Bool("lastonly", false, "keep only each recording's last estimate (clips with one reference each; implied by -oxiwear)")
	minWindow  = flag.Duration("minwindow", 0, "signal needed before the first value (default: the estimator's 5s, 3s with -oxiwear, whose clips are 3-6 s)")
)

func loadRecordings(t *testing.T) (recs []*Recording, clips bool) {
	dir, read := *dataDir, ReadCSV
	if *oxiwearDir != "" {
		dir, read, clips = *oxiwearDir, ReadOxiWear, true
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no *.csv in %s (%v)", dir, err)
	}
	slices.Sort(names)
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := read(f, name)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
		if *convertDir != "" && clips {
			out, err := os.Create(filepath.Join(*convertDir, filepath.Base(name)))
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteCSV(out, rec); err != nil {
				t.Fatal(err)
			}
			if err := out.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return recs, clips
}

// TestAccuracy prints SpO2 Arms and bias and pulse error on held-out data,
// for this package's estimator and for the textbook baseline. Recordings
// (sorted by name) alternate between the fitting half and the held-out half;
// a single recording is split in time.
func TestAccuracy(t *testing.T) {
	if *dataDir == "" && *oxiwearDir == "" {
		t.Skip("no -data or -oxiwear directory given")
	}
	recs, clips := loadRecordings(t)
	opts := Options{LastOnly: clips || *lastOnly}
	opts.Config.MinWindow = *minWindow
	if clips && *minWindow == 0 {
		opts.Config.MinWindow = 3 * time.Second
	}
	var train, test, all []Pair
	for i, rec := range recs {
		pairs, err := Evaluate(rec, opts)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, pairs...)
		switch {
		case len(recs) == 1:
			train, test = pairs[:len(pairs)/2], pairs[len(pairs)/2:]
		case i%2 == 0:
			train = append(train, pairs...)
		default:
			test = append(test, pairs...)
		}
	}
	var secs float64
	lo, hi := 101.0, 0.0
	for _, r := range recs {
		secs += float64(r.Len()) / r.Rate
		for _, s := range r.RefSpO2 {
			if s == s {
				lo, hi = min(lo, s), max(hi, s)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d recordings, %.0f s of signal, reference SpO2 %.0f-%.0f %%; %d estimates fit, %d held out\n", len(recs), secs, lo, hi, len(train), len(test))
	fit, err := FitLine(train, false, "least squares on the fitting half")
	if err != nil {
		t.Fatal(err)
	}
	baseFit, err := FitLine(train, true, "least squares on the fitting half (baseline ratio)")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "fitted on the fitting half: SpO2 = %.2f %+.2f·R (ppg ratio), %.2f %+.2f·R (baseline ratio)\n", fit.A, fit.B, baseFit.A, baseFit.B)
	row := func(what string, f Figures) { fmt.Fprintf(&b, "  %-58s %v\n", what, f) }
	fmt.Fprintf(&b, "SpO2 on the held-out half (percentage points):\n")
	row("ppg, default curve "+curveString(ppg.DefaultCalibration), SpO2Figures(test, ppg.DefaultCalibration, false))
	row("ppg, curve fitted on the other half "+curveString(fit), SpO2Figures(test, fit, false))
	row("ppg, AN6845 curve", SpO2Figures(test, AN6845, false))
	row("ppg, textbook line 110-25·R", SpO2Figures(test, Textbook, false))
	row("baseline p-p ratio, AN6845 curve", SpO2Figures(test, AN6845, true))
	row("baseline p-p ratio, RD117 curve", SpO2Figures(test, RD117, true))
	row("baseline p-p ratio, curve fitted "+curveString(baseFit), SpO2Figures(test, baseFit, true))
	fmt.Fprintf(&b, "SpO2 on all (in-sample for a curve fitted to this data):\n")
	row("ppg, default curve", SpO2Figures(all, ppg.DefaultCalibration, false))
	row("ppg, textbook line 110-25·R", SpO2Figures(all, Textbook, false))
	row("baseline p-p ratio, AN6845 curve", SpO2Figures(all, AN6845, true))
	fmt.Fprintf(&b, "Pulse rate (/min):\n")
	row("ppg, held out", PulseFigures(test, false))
	row("ppg, all", PulseFigures(all, false))
	row("baseline (RD117-style peaks), all", PulseFigures(all, true))
	if testing.Verbose() {
		fmt.Fprintf(&b, "Per estimate (recording, time, ref SpO2, ppg SpO2, R, ref HR, ppg pulse, baseline R, baseline HR, flags):\n")
		for _, p := range all {
			fmt.Fprintf(&b, "  %-24s %5.1fs %5.1f %4d %.3f %5.1f %4d %.3f %5.1f %v %s\n", p.Rec, p.At.Seconds(), p.RefSpO2, p.SpO2, p.R, p.RefHR, p.Pulse, p.BaseR, p.BaseHR, p.Flags, p.Reason)
		}
	}
	t.Log("\n" + b.String())
}

func curveString(c ppg.Calibration) string {
	s := fmt.Sprintf("%.1f%+.1f·R", c.A, c.B)
	if c.C != 0 {
		s += fmt.Sprintf("%+.1f·R²", c.C)
	}
	return s
}
