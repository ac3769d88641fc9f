package service

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Refused messages are logged with their topic and reason, at most 20 a
// minute; the rest are counted in one line when the minute is over.
func TestRefusalLogBounded(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	r := &refusalLog{log: slog.New(slog.NewJSONHandler(&out, nil)), now: func() time.Time { return now }}
	for range 1000 {
		r.add("chairside/chair-01/vitals/spo2", 12, errors.New(`field "value": "x" is not a number`))
	}
	if n := strings.Count(out.String(), "MQTT message refused"); n != refusalBurst {
		t.Fatalf("%d refusal lines in a minute of 1000, want %d", n, refusalBurst)
	}
	if !strings.Contains(out.String(), `"topic":"chairside/chair-01/vitals/spo2"`) || !strings.Contains(out.String(), "is not a number") {
		t.Fatalf("a refusal line lacks topic or reason: %s", out.String()[:300])
	}
	now = now.Add(time.Minute)
	r.add("chairside/chair-01/state", 3, errors.New("malformed"))
	if !strings.Contains(out.String(), `"count":980`) {
		t.Fatal("the refusals not logged are not counted")
	}
}
