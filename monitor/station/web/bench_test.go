package web

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/station"
	"github.com/chairside/chairside/monitor/station/history"
)

// simChairs makes one second of n chairs' messages at a time: SpO2 and
// pulse every second, the heartbeat every 10 s, and on one chair in 20 an
// alarm that starts and, 10 s later, ends (alarm record plus retained list).
type simChairs struct {
	n   int
	sec int
	seq []uint64
	t0  time.Time
	buf []byte
}

type simMsg struct {
	topic    string
	payload  []byte
	retained bool
}

func (s *simChairs) second(emit func(topic string, payload []byte, retained bool)) {
	t := s.t0.Add(time.Duration(s.sec) * time.Second)
	ts := t.UTC().Format("2006-01-02T15:04:05.000Z")
	for i := range s.n {
		chair := "chair-" + strconv.Itoa(i)
		root := "chairside/" + chair + "/"
		if s.sec%10 == i%10 {
			s.buf = fmt.Appendf(s.buf[:0], `{"v":1,"online":true,"boot":1,"stream":"st%d","version":"v1","t":"%s","clock_synced":true,"session":"s-1","phase":"infusion"}`, i, ts)
			emit(root+"state", s.buf, true)
		}
		for _, p := range []struct{ param, unit string }{{"spo2", "%"}, {"pulse", "/min"}} {
			s.seq[i]++
			s.buf = fmt.Appendf(s.buf[:0], `{"v":1,"stream":"st%d","seq":%d,"boot":1,"clock_synced":true,"t":"%s","session":"s-1","param":"%s","value":%d,"unit":"%s","source":"nonin","flags":[]}`,
				i, s.seq[i], ts, p.param, 90+(s.sec+i)%10, p.unit)
			emit(root+"vitals/"+p.param, s.buf, false)
		}
		if i%20 == 0 && s.sec%10 == 0 {
			phase, state, list := "start", "active", `[{"v":1,"t":"`+ts+`","id":"a-1-`+strconv.Itoa(s.sec)+`","condition":"spo2_low","kind":"physiological","priority":"high","phase":"start","state":"active","condition_active":true,"value":86,"limit":88,"message":"SpO2 86 < 88","acked_by":null,"audio":"on"}]`
			if (s.sec/10)%2 == 1 {
				phase, state, list = "end", "cleared", `[]`
			}
			s.seq[i]++
			s.buf = fmt.Appendf(s.buf[:0], `{"v":1,"stream":"st%d","seq":%d,"boot":1,"clock_synced":true,"t":"%s","session":"s-1","id":"a-1-%d","condition":"spo2_low","kind":"physiological","priority":"high","phase":"%s","state":"%s","condition_active":true,"value":86,"limit":88,"message":"SpO2 86 < 88","acked_by":null,"audio":"on"}`,
				i, s.seq[i], ts, s.sec, phase, state)
			emit(root+"alarm", s.buf, false)
			s.buf = fmt.Appendf(s.buf[:0], `{"v":1,"t":"%s","audio_paused_until":null,"alarms":%s}`, ts, list)
			emit(root+"alarms", s.buf, true)
		}
	}
	s.sec++
}

// BenchmarkStation500Chairs is one simulated second of 500 chairs at 1 Hz
// with alarms through everything the station does with a message but the
// network: parse, model, timers, history queue and commit, and the
// coalesced event batches (4 a second) encoded for the pages. ns/op ÷ 1e7
// is the % of one core it needs.
func BenchmarkStation500Chairs(b *testing.B) {
	model := station.NewModel(station.Config{Prefix: "chairside", OfflineAfter: 25 * time.Second})
	h, err := history.Open(filepath.Join(b.TempDir(), "h.db"), history.Options{Keep: 72 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	srv := New(Config{Name: "desk-1", Model: model, History: h})
	sim := &simChairs{n: 500, seq: make([]uint64, 500), t0: time.Now()}
	now := sim.t0
	var refused int
	emit := func(topic string, payload []byte, retained bool) {
		eff, err := model.Handle(topic, payload, retained, now)
		if err != nil {
			refused++
			return
		}
		h.Add(eff)
	}
	var sent int
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sim.second(emit)
		now = now.Add(time.Second)
		model.Tick(now)
		for range 4 {
			var buf bytes.Buffer
			chairs, _ := model.TakeChanged()
			srv.chairEvents(&buf, chairs)
			sent += buf.Len()
		}
		h.Flush()
	}
	b.StopTimer()
	if refused > 0 {
		b.Fatalf("%d simulated messages refused", refused)
	}
	b.ReportMetric(float64(sent)/float64(b.N), "event-bytes/op")
	_ = context.Background
}
