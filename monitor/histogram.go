package monitor

import "github.com/chairside/chairside/monitor/wire"

// histogram counts integer values 0..299 (SpO2 and pulse), so a median over
// a whole session costs a fixed 1.2 KB and no allocation per sample.
type histogram struct {
	Counts [300]uint32
	N      uint32
}

func (h *histogram) add(v int16) {
	if v < 0 {
		return
	}
	if int(v) >= len(h.Counts) {
		v = int16(len(h.Counts) - 1)
	}
	h.Counts[v]++
	h.N++
}

// median is the lower median, or null with no values.
func (h *histogram) median() wire.Num {
	if h.N == 0 {
		return wire.Num{}
	}
	target := (h.N + 1) / 2
	var seen uint32
	for v, c := range h.Counts {
		seen += c
		if seen >= target {
			return wire.N(float64(v))
		}
	}
	return wire.Num{}
}

func (h *histogram) min() wire.Num {
	for v, c := range h.Counts {
		if c > 0 {
			return wire.N(float64(v))
		}
	}
	return wire.Num{}
}

func (h *histogram) max() wire.Num {
	for v := len(h.Counts) - 1; v >= 0; v-- {
		if h.Counts[v] > 0 {
			return wire.N(float64(v))
		}
	}
	return wire.Num{}
}
