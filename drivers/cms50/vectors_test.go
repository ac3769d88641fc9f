package cms50

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chairside/chairside/monitor/vitals"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestCaptureHeadrotor checks the real CMS50D+ capture quoted by headrotor:
// the replies to nine commands frame as their own packet types, and every
// live packet is PR 65, SpO2 97, as the author states.
func TestCaptureHeadrotor(t *testing.T) {
	b := loadHex(t, "testdata/live9/headrotor-stream_data.hex")
	pkts, d := decodeAll(t, Live9, b)
	var types []string
	for _, p := range pkts {
		types = append(types, fmt.Sprintf("%02X", p.Type))
	}
	want := "0C 0C 06 11 0E 13 14 02 02 04 03 01 01 01 01 01 01 01"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("packet types\n got %s\nwant %s", got, want)
	}
	live := liveOnly(pkts)
	if len(live) != 7 {
		t.Fatalf("%d live packets, want 7", len(live))
	}
	for i, p := range live {
		if got := readingsString(t, p); got != "spo2=97 pr=65 flags=none" {
			t.Errorf("live packet %d: %s", i, got)
		}
	}
	if st := d.Stats(); st.Garbled != 0 || st.Skipped != 0 || st.Frames != 18 || st.Live != 7 || d.Pending() != 0 {
		t.Errorf("stats %+v pending %d", st, d.Pending())
	}
	checkGolden(t, "testdata/live9/headrotor-stream_data.golden", pkts, d)
}

// TestCaptureTitinho11 checks the real CMS50E capture: 102 packets of PR 60,
// SpO2 99 with four heartbeat frames, and a last packet cut after 4 bytes
// that stays pending and counts as one garbled frame once flushed.
func TestCaptureTitinho11(t *testing.T) {
	b := loadHex(t, "testdata/live9/titinho11-data.hex")
	if len(b) != 922 {
		t.Fatalf("capture is %d bytes, want 922", len(b))
	}
	pkts, d := decodeAll(t, Live9, b)
	if len(pkts) != 102 {
		t.Fatalf("%d packets, want 102", len(pkts))
	}
	beats := 0
	for i, p := range pkts {
		if got := readingsString(t, p); got != "spo2=99 pr=60 flags=none" {
			t.Errorf("packet %d: %s", i, got)
		}
		if p.Beat {
			beats++
		}
	}
	if beats != 4 {
		t.Errorf("%d heartbeat frames, want 4", beats)
	}
	if d.Pending() != 4 || d.Stats().Garbled != 0 {
		t.Errorf("before flush: pending %d, stats %+v", d.Pending(), d.Stats())
	}
	if !d.Flush() {
		t.Error("Flush found no partial packet")
	}
	st := d.Stats()
	if st.Garbled != 1 || st.Skipped != 4 || st.Frames != 102 || st.Bytes != 922 {
		t.Errorf("after flush: %+v", st)
	}
	checkGolden(t, "testdata/live9/titinho11-data.golden", pkts, d)
}

// checkGolden compares the whole decoded output with a golden file.
func checkGolden(t *testing.T, path string, pkts []Packet, d *Decoder) {
	t.Helper()
	var sb strings.Builder
	for _, p := range pkts {
		if !p.Live() {
			fmt.Fprintf(&sb, "type=%02X\n", p.Type)
			continue
		}
		fmt.Fprintf(&sb, "type=%02X spo2=%s pr=%s pleth=%d bar=%d signal=%d beat=%t finger_out=%t searching=%t flags=%s\n",
			p.Type, valueString(p.SpO2), valueString(p.PR), p.Pleth, p.Bar, p.Signal, p.Beat, p.FingerOut, p.Searching, p.Flags())
	}
	st := d.Stats()
	fmt.Fprintf(&sb, "stats bytes=%d frames=%d live=%d skipped=%d garbled=%d pending=%d\n",
		st.Bytes, st.Frames, st.Live, st.Skipped, st.Garbled, d.Pending())
	got := sb.String()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -run %s -update, then review the diff):\n%s", path, t.Name(), got)
	}
}

// TestSpecVectors decodes every line of the built vector files and compares
// the readings.
func TestSpecVectors(t *testing.T) {
	for _, tc := range []struct {
		proto Protocol
		path  string
	}{
		{Live9, "testdata/live9/spec-vectors.txt"},
		{Legacy, "testdata/legacy/spec-vectors.txt"},
	} {
		for _, v := range readVectors(t, tc.path) {
			name := fmt.Sprintf("%s:%d", filepath.Base(tc.path), v.n)
			t.Run(tc.proto.String()+"/"+name, func(t *testing.T) {
				in, want, ok := strings.Cut(v.text, "|")
				if !ok {
					t.Fatalf("no '|' in %q", v.text)
				}
				pkts, d := decodeAll(t, tc.proto, closed(tc.proto, parseHex(t, in)))
				if len(pkts) != 1 || d.Pending() != closing(tc.proto) || d.Stats().Skipped != 0 {
					t.Fatalf("%s: %d packets, pending %d, stats %+v", in, len(pkts), d.Pending(), d.Stats())
				}
				if got := readingsString(t, pkts[0]); got != strings.TrimSpace(want) {
					t.Errorf("%s\n got %s\nwant %s", in, got, strings.TrimSpace(want))
				}
			})
		}
	}
}

// TestAtbraskVectors replays atbrask's unit-test vectors: each raw field must
// come out as atbrask expects, except that PR and SpO2 out of range become
// NoValue here; re-encoding must give the same five bytes whenever the values
// are in range; and the packets atbrask refuses must give no packet.
func TestAtbraskVectors(t *testing.T) {
	vs := readVectors(t, "testdata/legacy/atbrask-unittests.txt")
	if len(vs) < 560 {
		t.Fatalf("only %d vectors", len(vs))
	}
	for _, v := range vs {
		if rest, ok := strings.CutPrefix(v.text, "reject "); ok {
			pkts, _ := decodeAll(t, Legacy, closed(Legacy, parseHex(t, rest)))
			if len(pkts) != 0 {
				t.Errorf("line %d: %s gave a packet %+v", v.n, rest, pkts[0])
			}
			continue
		}
		fields := strings.Fields(v.text)
		in := parseHex(t, strings.Join(fields[:5], ""))
		key, val, _ := strings.Cut(fields[5], "=")
		pkts, _ := decodeAll(t, Legacy, closed(Legacy, in))
		if len(pkts) != 1 {
			t.Fatalf("line %d: %d packets", v.n, len(pkts))
		}
		p := pkts[0]
		var got string
		want := val
		switch key {
		case "signal":
			got = fmt.Sprint(p.Signal)
		case "fingerOut":
			got = fmt.Sprint(p.FingerOut)
		case "dropping":
			got = fmt.Sprint(p.Dropping)
		case "beep":
			got = fmt.Sprint(p.Beat)
		case "pleth":
			got = fmt.Sprint(p.Pleth)
		case "bar":
			got = fmt.Sprint(p.Bar)
		case "probeError":
			got = fmt.Sprint(p.ProbeError)
		case "searching":
			got = fmt.Sprint(p.Searching)
		case "pr":
			got = valueString(p.PR)
			if n, _ := strconv.Atoi(val); n < minPR || n > maxPR {
				want = "none"
			}
		case "spo2":
			got = valueString(p.SpO2)
			if n, _ := strconv.Atoi(val); n < minSpO2 || n > maxSpO2 {
				want = "none"
			}
		default:
			t.Fatalf("line %d: unknown field %q", v.n, key)
		}
		if got != want {
			t.Errorf("line %d: %s %s=%s, want %s", v.n, fields[:5], key, got, want)
		}
		// Re-encoding gives atbrask's bytes back, except where a value was
		// out of range: the encoder then sends the missing marker.
		wantBytes := append([]byte(nil), in...)
		if p.PR == vitals.NoValue {
			wantBytes[2] |= legacyPRHigh
			wantBytes[3] = 0x7F
		}
		if p.SpO2 == vitals.NoValue {
			wantBytes[4] = spo2Missing
		}
		if re := AppendLegacy(nil, p.State); string(re) != string(wantBytes) {
			t.Errorf("line %d: re-encoded % X, want % X", v.n, re, wantBytes)
		}
	}
}
