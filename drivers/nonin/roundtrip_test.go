package nonin

import (
	"testing"

	"github.com/chairside/chairside/monitor/vitals"
)

// expected is what a decoder can rebuild of s after format f carried it: the
// fields the format has, values out of range as missing, and the perfusion
// rule (red wins over yellow: the wire has one perfusion indication).
func expected(s State, f Format) State {
	spo2 := func(v int16) int16 {
		if v < 0 || v > 100 {
			return vitals.NoValue
		}
		return v
	}
	hr := func(v int16) int16 {
		if v < 0 || v > 510 {
			return vitals.NoValue
		}
		return v
	}
	flags := s.Flags & knownFlags
	if f == DF8 {
		if s.CriticalBattery {
			flags |= vitals.LowBattery
		}
		w := missingState()
		w.SpO2, w.HR, w.Flags = spo2(s.SpO2), hr(s.HR), flags
		w.SmartPoint, w.SpotCheck, w.CriticalBattery = s.SmartPoint, s.SpotCheck, s.CriticalBattery
		return w
	}
	if flags.Has(vitals.LowPerfusion) {
		flags &^= vitals.MarginalPerfusion
	}
	w := State{
		SpO2: spo2(s.SpO2), HR: hr(s.HR),
		SpO2D: spo2(s.SpO2D), SpO2Fast: spo2(s.SpO2Fast), SpO2BB: spo2(s.SpO2BB),
		ESpO2: spo2(s.ESpO2), ESpO2D: spo2(s.ESpO2D),
		EHR: hr(s.EHR), HRD: hr(s.HRD), EHRD: hr(s.EHRD),
		Pleth: s.Pleth, Flags: flags, SREV: s.SREV, Timer: s.Timer & 0x3fff, SmartPoint: s.SmartPoint,
	}
	if f == DF2 {
		w.Pleth &= 0xff
	}
	return w
}

func TestRoundTrip(t *testing.T) {
	with := func(s State, edit func(*State)) State { edit(&s); return s }
	base := Steady(97, 72)
	base.SREV, base.Timer, base.Pleth = 0x30, 1234, 0x5a5a
	cases := []struct {
		name string
		s    State
	}{
		{"steady", base},
		{"spo2 0", with(base, func(s *State) { s.SpO2 = 0 })},
		{"spo2 100", with(base, func(s *State) { s.SpO2 = 100 })},
		{"spo2 missing", with(base, func(s *State) { s.SpO2 = vitals.NoValue })},
		{"spo2 out of range sent as missing", with(base, func(s *State) { s.SpO2 = 101 })},
		{"hr 0", with(base, func(s *State) { s.HR = 0 })},
		{"hr 127/128 (MSB boundary)", with(base, func(s *State) { s.HR, s.EHR = 127, 128 })},
		{"hr 510", with(base, func(s *State) { s.HR = 510 })},
		{"hr missing", with(base, func(s *State) { s.HR = vitals.NoValue })},
		{"hr 511 sent as missing", with(base, func(s *State) { s.HR = 511 })},
		{"variants differ", with(base, func(s *State) {
			s.SpO2D, s.SpO2Fast, s.SpO2BB, s.ESpO2, s.ESpO2D = 91, 92, 93, 94, 95
			s.EHR, s.HRD, s.EHRD = 301, 302, 303
		})},
		{"variants missing", with(base, func(s *State) {
			s.SpO2D, s.ESpO2D, s.HRD, s.EHRD = vitals.NoValue, vitals.NoValue, vitals.NoValue, vitals.NoValue
		})},
		{"srev ff", with(base, func(s *State) { s.SREV = 0xff })},
		{"timer max", with(base, func(s *State) { s.Timer = 0x3fff })},
		{"timer 0", with(base, func(s *State) { s.Timer = 0 })},
		{"pleth max", with(base, func(s *State) { s.Pleth = 0xffff })},
		{"pleth 0", with(base, func(s *State) { s.Pleth = 0 })},
		{"smartpoint", with(base, func(s *State) { s.SmartPoint = true })},
		{"spot check", with(base, func(s *State) { s.SpotCheck = true })},
		{"critical battery", with(base, func(s *State) { s.CriticalBattery = true })},
		{"everything at once", with(base, func(s *State) {
			s.Flags = knownFlags
			s.SmartPoint, s.SpotCheck, s.CriticalBattery = true, true, true
		})},
		{"unknown flags are not sent", with(base, func(s *State) { s.Flags = vitals.Searching | vitals.Simulated })},
	}
	for _, fl := range []vitals.Flag{
		vitals.ProbeOff, vitals.SensorAlarm, vitals.Artifact, vitals.OutOfTrack,
		vitals.LowPerfusion, vitals.MarginalPerfusion, vitals.LowBattery,
		vitals.LowPerfusion | vitals.MarginalPerfusion,
		vitals.ProbeOff | vitals.SensorAlarm | vitals.OutOfTrack,
	} {
		cases = append(cases, struct {
			name string
			s    State
		}{"flag " + fl.String(), with(base, func(s *State) { s.Flags = fl })})
	}

	for _, f := range []Format{DF2, DF7, DF8} {
		for _, tc := range cases {
			t.Run(f.String()+"/"+tc.name, func(t *testing.T) {
				e, err := NewEncoder(f)
				if err != nil {
					t.Fatal(err)
				}
				d, r := newDec(t, f)
				// Two packets: the first fills the 25-frame flag window.
				var b []byte
				for i := 0; i < 3; i++ {
					s := tc.s
					b = e.AppendPacket(b, &s)
				}
				if len(b) != 3*map[Format]int{DF2: 125, DF7: 125, DF8: 4}[f] {
					t.Fatalf("encoded %d bytes", len(b))
				}
				d.Feed(b)
				want := expected(tc.s, f)
				if got := d.Last(); got != want {
					t.Errorf("Last()\n got %+v\nwant %+v", got, want)
				}
				if d.Garbled() != 0 {
					t.Errorf("garbled %d", d.Garbled())
				}
				sp, ok1 := r.last(vitals.SpO2)
				pr, ok2 := r.last(vitals.Pulse)
				wantR := [2]vitals.Reading{
					{Sensor: 3, Param: vitals.SpO2, Value: want.SpO2, Flags: want.Flags},
					{Sensor: 3, Param: vitals.Pulse, Value: want.HR, Flags: want.Flags},
				}
				if !ok1 || !ok2 || sp != wantR[0] || pr != wantR[1] {
					t.Errorf("readings %+v %+v, want %+v", sp, pr, wantR)
				}
			})
		}
	}
}

// TestEncoderFrameLayout pins the encoder to the wire layout independently of
// the decoder, against the real capture's bytes.
func TestEncoderFrameLayout(t *testing.T) {
	v, _ := loadVectors(t, "df2_mattjlewis_packet.hex")
	capture := v[""][:125]
	s := Steady(96, 74)
	s.SREV, s.Timer = 0x94, 23
	e, _ := NewEncoder(DF2)
	var b []byte
	for i := 0; i < 25; i++ {
		s.Pleth = uint16(capture[i*5+2])
		b = e.Append(b, &s)
	}
	// The capture has no perfusion bits and STAT2 0x04 (an undocumented
	// bit); ours has green perfusion on frames 0-11 and STAT2 0. Compare the
	// rest byte by byte.
	for i := 0; i < 25; i++ {
		got, want := b[i*5:i*5+5], capture[i*5:i*5+5]
		if i == idxStat2 {
			continue
		}
		if got[0] != want[0] || got[1]&^stPerf != want[1] || got[2] != want[2] || got[3] != want[3] {
			t.Errorf("frame %d: % x, capture % x", i, got, want)
		}
		wantPerf := byte(0) // no indication away from the pulse
		if i < pulseFrames {
			wantPerf = stGreen
		}
		if got[1]&stPerf != wantPerf {
			t.Errorf("frame %d: perfusion bits %02x, want %02x", i, got[1]&stPerf, wantPerf)
		}
		if got[0]+got[1]+got[2]+got[3] != got[4] {
			t.Errorf("frame %d: checksum", i)
		}
	}
}
