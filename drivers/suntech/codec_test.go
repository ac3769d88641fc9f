package suntech

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// The constructor for each row of testdata/commands.txt.
var commandsByName = map[string]Command{
	"start adult":               StartBP(Adult),
	"start pediatric":           StartBP(Pediatric),
	"start neonate":             StartBP(Neonate),
	"abort":                     Abort(),
	"get cuff pressure":         GetCuffPressure(),
	"get BP data":               GetBPData(),
	"module data":               ModuleData(),
	"return string":             ReturnString(),
	"status":                    Status(),
	"status A+":                 StatusAPlus(),
	"set initial inflation 160": SetInitialInflation(160),
	"reset":                     Reset(),
	"control pneumatics 0 1 1":  ControlPneumatics(false, true, true),
}

func TestCommandsMatchTable(t *testing.T) {
	rows := readTable(t, "commands.txt")
	if len(rows) != len(commandsByName) {
		t.Errorf("table has %d commands, test knows %d", len(rows), len(commandsByName))
	}
	for _, r := range rows {
		name, want := r[0], unhex(t, r[1])
		c, ok := commandsByName[name]
		if !ok {
			t.Errorf("no constructor for table row %q", name)
			continue
		}
		if got := c.Bytes(); !bytes.Equal(got, want) {
			t.Errorf("%s: % X, table says % X", name, got, want)
		}
		if !ValidChecksum(c.Bytes()) {
			t.Errorf("%s: checksum does not sum to zero", name)
		}
		if !strings.HasPrefix(name, c.Name()) {
			t.Errorf("%s: Name() = %q", name, c.Name())
		}
		if got := c.AppendTo([]byte{1}); !bytes.Equal(got[1:], want) || got[0] != 1 {
			t.Errorf("%s: AppendTo = % X", name, got)
		}
	}
}

func TestCommandDetails(t *testing.T) {
	if got := StartBP(Patient(0x55)).Bytes(); !bytes.Equal(got, StartBP(Adult).Bytes()) {
		t.Errorf("an invalid patient must start an adult cycle, got % X", got)
	}
	if got, want := SetInitialInflation(0x0123).Bytes(), []byte{0x3A, 0x17, 0x23, 0x01}; !bytes.Equal(got[:4], want) {
		t.Errorf("initial inflation is little-endian: % X", got)
	}
	if got := Abort().String(); got != "abort [3A 79 01 00 4C]" {
		t.Errorf("String = %q", got)
	}
	if got := (Command{}).Name(); got != "unknown" {
		t.Errorf("zero Command Name = %q", got)
	}
	b := Abort().Bytes()
	b[1] = 0
	if !bytes.Equal(Abort().Bytes(), []byte{0x3A, 0x79, 0x01, 0x00, 0x4C}) {
		t.Error("Bytes must return a copy")
	}
}

func TestChecksum(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want byte
	}{
		{nil, 0},
		{[]byte{0x3A, 0x20}, 0xA6},
		{[]byte{0x3E, 0x05, 0x02, 0x01}, 0xBA},
		{[]byte{0xFF, 0xFF, 0x02}, 0x00},
	} {
		if got := Checksum(tc.in); got != tc.want {
			t.Errorf("Checksum(% X) = %02X, want %02X", tc.in, got, tc.want)
		}
	}
	if ValidChecksum(nil) {
		t.Error("an empty frame must not be valid")
	}
}

func TestResponseVectors(t *testing.T) {
	for _, r := range readTable(t, "responses.txt") {
		in, want := unhex(t, r[0]), r[1]
		var p Parser
		got := parseAll(&p, in)
		p.Flush()
		got = append(got, parseAll(&p, nil)...)
		switch {
		case want == "reject" && len(got) != 0:
			t.Errorf("% X: want no frame, got %q", in, got)
		case want != "reject" && (len(got) != 1 || got[0] != want):
			t.Errorf("% X: got %q, want %q", in, got, want)
		}
		st := p.Stats()
		if want == "reject" && st.Garbled == 0 {
			t.Errorf("% X: a rejected frame must count as garbled", in)
		}
		if want != "reject" && (st.Frames != 1 || st.Garbled != 0) {
			t.Errorf("% X: stats %+v", in, st)
		}
	}
}

// The sensors.md result vector, field by field.
func TestResultVectorFields(t *testing.T) {
	var p Parser
	f, n, ok := p.Next(unhex(t, "3E 18 73 00 4A 00 1E 01 00 00 00 00 00 00 31 07 55 00 58 00 00 00 00 E9"))
	if !ok || n != 24 || f.Kind != KindResult {
		t.Fatalf("ok %v n %d kind %v", ok, n, f.Kind)
	}
	want := BPData{Systolic: 115, Diastolic: 74, Beats: 0x1E, Status: 1, HeartRate: 85, Mean: 88,
		TestCodes: [8]byte{0, 0, 0, 0, 0, 0, 0x31, 0x07}}
	if f.BP != want {
		t.Errorf("got %+v\nwant %+v", f.BP, want)
	}
	if err := f.BP.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// Every kind the encoders make must come back through the parser unchanged.
func TestRoundTrip(t *testing.T) {
	acks := []Ack{AckReceived, AckDone, AckAborted, AckBusy, AckError, AckBadFrame, AckUnknown, AckSleep, AckTimedOut}
	var stream []byte
	var want []Frame
	// want holds the encoder's inputs, not a decode of its output: only the
	// raw bytes are filled in, so a field the encoder drops or misplaces
	// fails the comparison below.
	add := func(b []byte, f Frame) {
		stream = append(stream, b...)
		f.n = uint8(copy(f.raw[:], b))
		want = append(want, f)
	}
	for _, a := range acks {
		add(AppendAck(nil, a), Frame{Kind: KindAck, Ack: a})
	}
	for _, p := range []int16{0, 1, 258, 299, 300, -1, 32767, -32768} {
		add(AppendPressure(nil, p), Frame{Kind: KindPressure, Pressure: p})
	}
	for _, b := range []BPData{
		{Systolic: 115, Diastolic: 74, Mean: 88, HeartRate: 85, Beats: 30, Status: 1},
		{Error: InflateTimeout},
		{Systolic: 300, Diastolic: 1, Mean: -1, HeartRate: 255, TestCodes: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, Error: 0xFF},
	} {
		add(AppendResult(nil, b), Frame{Kind: KindResult, BP: b})
	}
	add(AppendVersion(nil, "LX1.23 Advantage"), Frame{Kind: KindVersion})
	add(AppendVersion(nil, strings.Repeat("x", 100)), Frame{Kind: KindVersion})
	odd, err := AppendFrame(nil, []byte{1, 2, 3, 4, 5, 6, 7})
	if err != nil {
		t.Fatal(err)
	}
	add(odd, Frame{Kind: KindUnknown})

	// Whole, then one byte at a time: the split must not matter.
	for _, chunk := range []int{len(stream), 1, 3, 7} {
		var p Parser
		var got []Frame
		for b := stream; len(b) > 0; {
			c := b[:min(chunk, len(b))]
			b = b[len(c):]
			for {
				f, n, ok := p.Next(c)
				c = c[n:]
				if !ok {
					break
				}
				got = append(got, f)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("chunk %d: %d frames, want %d", chunk, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("chunk %d frame %d: got %v, want %v", chunk, i, &got[i], &want[i])
			}
		}
		if st := p.Stats(); st.Garbled != 0 || st.Frames != uint64(len(want)) || st.Bytes != uint64(len(stream)) {
			t.Errorf("chunk %d: stats %+v", chunk, st)
		}
	}
	var f Frame
	f.decode(AppendVersion(nil, "LX1.23 Advantage"))
	if got := string(f.Text()); got != "LX1.23 Advantage" {
		t.Errorf("Text = %q", got)
	}
}

func TestAppendFrameBounds(t *testing.T) {
	if _, err := AppendFrame(nil, nil); err == nil {
		t.Error("empty data must be refused (LEN 3 < MinFrameLen)")
	}
	if _, err := AppendFrame(nil, make([]byte, VersionTextLen+1)); err == nil {
		t.Error("LEN 68 must be refused")
	}
	if b, err := AppendFrame([]byte{9}, make([]byte, VersionTextLen)); err != nil || len(b) != 1+MaxFrameLen || b[2] != MaxFrameLen {
		t.Errorf("max frame: % X, %v", b, err)
	}
}

func TestErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		code ErrorCode
		want string
	}{
		{WeakSignal, "0x01 weak or no signal"},
		{ErraticSignal, "0x02 erratic signal or artifact"},
		{OutOfRange, "0x03 blood pressure out of range"},
		{MeasureTimeout, "0x04 measurement time exceeded"},
		{PneumaticBlockage, "0x55 pneumatic blockage"},
		{AbortedByUser, "0x56 aborted by user"},
		{InflateTimeout, "0x57 inflate timeout, leak or loose cuff"},
		{SafetyTimeout, "0x58 safety timeout"},
		{CuffOverpressure, "0x59 cuff overpressure"},
		{PowerFault, "0x5A power or hardware fault"},
		{PermissionDenied, "0x5B permission denied (override or autozero)"},
		{TransducerRange, "0x61 transducer out of range"},
		{CalibrationFault, "0x63 EEPROM calibration failure"},
		{0x85, "0x85 unknown module error"},
		{0x62, "0x62 unknown module error"},
	} {
		if got := tc.code.Error(); got != tc.want {
			t.Errorf("%d: %q, want %q", tc.code, got, tc.want)
		}
		// A result carrying the code fails with it, whatever its pressures.
		err := BPData{Systolic: 120, Diastolic: 80, Error: tc.code}.Check()
		if !errors.Is(err, tc.code) || err.Error() != tc.want {
			t.Errorf("Check with %v = %v", tc.code, err)
		}
	}
	wrapped := fmt.Errorf("cycle: %w", InflateTimeout)
	var code ErrorCode
	if !errors.As(wrapped, &code) || code != 0x57 {
		t.Errorf("errors.As gave %v", code)
	}
}

func TestCheckPlausible(t *testing.T) {
	for _, tc := range []struct {
		b  BPData
		ok bool
	}{
		{BPData{Systolic: 120, Diastolic: 80}, true},
		{BPData{Systolic: 0, Diastolic: 0}, false},
		{BPData{Systolic: 80, Diastolic: 80}, false},
		{BPData{Systolic: 120, Diastolic: -3}, false},
		{BPData{Systolic: 301, Diastolic: 80}, false},
	} {
		err := tc.b.Check()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrImplausible)) {
			t.Errorf("%+v: %v", tc.b, err)
		}
	}
}
