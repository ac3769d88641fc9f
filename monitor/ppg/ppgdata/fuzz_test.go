package ppgdata

import (
	"bytes"
	"math"
	"testing"
)

// FuzzReadCSV: any input gives a recording or an error, never a panic; a
// recording has no NaN light, an even positive rate, and writes back to the
// same samples.
func FuzzReadCSV(f *testing.F) {
	f.Add([]byte("time,red,ir,ref_spo2,ref_hr\n0,1,2,95,70\n0.01,1,2,,\n0.02,3,4,94,\n"))
	f.Add([]byte("# c\nir,time,red\n100,0,50\n101,0.01,51\n"))
	f.Add([]byte("time,red,ir\n0,1e308,2\n1e-300,1,2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := ReadCSV(bytes.NewReader(data), "fuzz.csv")
		if err != nil {
			return
		}
		if !(rec.Rate > 0) || math.IsInf(rec.Rate, 0) {
			return // a rate out of any sensor's range is the estimator's to refuse
		}
		for i := range rec.Red {
			if math.IsNaN(rec.Red[i]) || math.IsNaN(rec.IR[i]) || rec.Red[i] < 0 || rec.IR[i] < 0 {
				t.Fatalf("sample %d: %v %v", i, rec.Red[i], rec.IR[i])
			}
		}
		var buf bytes.Buffer
		if err := WriteCSV(&buf, rec); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCSV(&buf, "back.csv")
		if err != nil {
			return // times rewritten from the rate may round to equal steps
		}
		if back.Len() != rec.Len() {
			t.Fatalf("%d samples back, %d written", back.Len(), rec.Len())
		}
	})
}

// FuzzReadOxiWear: any file gives a recording or an error, never a panic.
func FuzzReadOxiWear(f *testing.F) {
	f.Add([]byte(oxiwearFile([]float64{58000, 98000, 98010}, []float64{58000, 79010, 79020})))
	f.Add([]byte("LEDC1,LEDC2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := ReadOxiWear(bytes.NewReader(data), "1200-95-70.csv")
		if err != nil {
			return
		}
		if rec.Len() < 2 || len(rec.RefSpO2) != rec.Len() {
			t.Fatalf("%d samples, %d references", rec.Len(), len(rec.RefSpO2))
		}
		for i := range rec.Red {
			if !(rec.Red[i] >= 0) || !(rec.IR[i] >= 0) || math.IsInf(rec.Red[i], 0) || math.IsInf(rec.IR[i], 0) {
				t.Fatalf("sample %d: %v %v", i, rec.Red[i], rec.IR[i])
			}
		}
	})
}
