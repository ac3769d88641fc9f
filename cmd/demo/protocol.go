package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// scheduleKeys are the protocol's schedule: the session's pace, which the
// demo runs faster. Alarm delays, reminders and pauses stay as they are: they
// are about the nurse's time and the sensors' real data. min_nibp_gap goes
// no lower than the 10 s a cuff needs, and no NIBP interval below it.
var scheduleKeys = [][]string{
	{"min_nibp_gap"}, // first: the NIBP intervals below are floored at it
	{"auto_start_after"},
	{"phase", "baseline", "nibp_every"},
	{"phase", "infusion", "duration"},
	{"phase", "infusion", "nibp_every"},
	{"phase", "observation", "duration"},
	{"phase", "observation", "nibp_every"},
	{"phase", "observation", "repeat_nibp_after_alarm"},
}

// minCuffGap is the shortest min_nibp_gap chairside accepts.
const minCuffGap = 10 * time.Second

// writeDemoProtocol writes the shipped protocol with its schedule speed
// times faster; chairside then checks it like any protocol file.
func writeDemoProtocol(shipped, out string, speed float64) error {
	var p map[string]any
	if _, err := toml.DecodeFile(shipped, &p); err != nil {
		return fmt.Errorf("protocol %s: %w", shipped, err)
	}
	p["name"] = fmt.Sprintf("%v-demo-x%g", p["name"], speed)
	gap := minCuffGap
	for _, key := range scheduleKeys {
		t := p
		for _, k := range key[:len(key)-1] {
			next, ok := t[k].(map[string]any)
			if !ok {
				t = nil
				break
			}
			t = next
		}
		last := key[len(key)-1]
		if t == nil || t[last] == nil {
			continue
		}
		s, ok := t[last].(string)
		d, err := time.ParseDuration(s)
		if !ok || err != nil {
			return fmt.Errorf("protocol %s: %v is %v, not a duration", shipped, key, t[last])
		}
		floor := time.Second // "0s" would mean never
		switch {
		case last == "min_nibp_gap":
			floor = minCuffGap
		case strings.Contains(last, "nibp"):
			floor = gap
		}
		scaled := max(floor, time.Duration(float64(d)/speed).Round(time.Second))
		if last == "min_nibp_gap" {
			gap = scaled
		}
		t[last] = scaled.String()
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# The demo's protocol: %s with its schedule %gx faster. Not for patients.\n", shipped, speed)
	if err := toml.NewEncoder(&buf).Encode(p); err != nil {
		return fmt.Errorf("demo protocol: %w", err)
	}
	return os.WriteFile(out, buf.Bytes(), 0o600)
}
