package station

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)

func ts(d time.Duration) string { return t0.Add(d).Format("2006-01-02T15:04:05.000Z") }

func stateMsg(online bool, phase string) string {
	return fmt.Sprintf(`{"v":1,"online":%v,"boot":2,"stream":"st1","version":"v1","t":"%s","clock_synced":true,"session":"","phase":"%s"}`, online, ts(0), phase)
}

const willMsg = `{"v":1,"online":false,"boot":2,"stream":"st1","version":"v1","t":null,"clock_synced":null,"session":null,"phase":null}`

func spo2Msg(seq int, at time.Duration, value string) string {
	return fmt.Sprintf(`{"v":1,"stream":"st1","seq":%d,"boot":2,"clock_synced":true,"t":"%s","session":"s-1","param":"spo2","value":%s,"unit":"%%","source":"nonin","flags":[]}`, seq, ts(at), value)
}

func sessionMsg(seq int, phase string) string {
	return fmt.Sprintf(`{"v":1,"stream":"st1","seq":%d,"boot":2,"clock_synced":true,"t":"%s","id":"s-1","encounter":"","phase":"%s","phase_started":"%s","phase_planned":null,"started":"%s","protocol":"ketamine-iv","baseline":{"systolic":null,"diastolic":null,"pulse":null,"spo2":null},"next_nibp":null,"gate_override_by":null}`, seq, ts(0), phase, ts(0), ts(0))
}

type fixture struct {
	t   *testing.T
	m   *Model
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	return &fixture{t: t, m: NewModel(Config{Prefix: "chairside", OfflineAfter: 25 * time.Second}), now: t0}
}

func (f *fixture) send(chair, suffix, payload string, retained bool) error {
	_, err := f.m.Handle("chairside/"+chair+"/"+suffix, []byte(payload), retained, f.now)
	return err
}

func (f *fixture) must(chair, suffix, payload string) {
	f.t.Helper()
	if err := f.send(chair, suffix, payload, false); err != nil {
		f.t.Fatalf("%s/%s refused: %v", chair, suffix, err)
	}
}

func (f *fixture) advance(d time.Duration) {
	f.now = f.now.Add(d)
	f.m.Tick(f.now)
}

// conditions lists a chair's station alarms as "condition/priority".
func (f *fixture) conditions(chair string) string {
	c, ok := f.m.Chair(chair)
	if !ok {
		return "(no chair)"
	}
	var out []string
	for _, a := range c.StationAlarms {
		out = append(out, a.Condition+"/"+a.Priority)
	}
	return strings.Join(out, ",")
}

// The Will raises chair_offline at once: medium during a session, low
// otherwise; the chair's next heartbeat ends it.
func TestWillRaisesChairOffline(t *testing.T) {
	f := newFixture(t)
	f.must("chair-01", "state", stateMsg(true, "idle"))
	f.must("chair-02", "state", stateMsg(true, "idle"))
	f.must("chair-02", "session", sessionMsg(1, "infusion"))
	if got := f.conditions("chair-01") + f.conditions("chair-02"); got != "" {
		t.Fatalf("conditions before the Will: %q", got)
	}
	f.must("chair-01", "state", willMsg)
	f.must("chair-02", "state", willMsg)
	if got := f.conditions("chair-01"); got != "chair_offline/low" {
		t.Errorf("idle chair after its Will: %q, want chair_offline/low", got)
	}
	if got := f.conditions("chair-02"); got != "chair_offline/medium" {
		t.Errorf("chair in infusion after its Will: %q, want chair_offline/medium", got)
	}
	if c, _ := f.m.Chair("chair-02"); c.Online || c.Phase != "infusion" {
		t.Errorf("after the Will: online %v phase %q; want offline, phase kept", c.Online, c.Phase)
	}
	f.advance(3 * time.Second)
	f.must("chair-01", "state", stateMsg(true, "idle"))
	if got := f.conditions("chair-01"); got != "" {
		t.Errorf("back online, conditions %q", got)
	}
}

// No heartbeat for offline_after raises chair_offline, not a second earlier.
func TestHeartbeatSilenceRaisesChairOffline(t *testing.T) {
	f := newFixture(t)
	f.must("chair-01", "state", stateMsg(true, "idle"))
	f.advance(24 * time.Second)
	if got := f.conditions("chair-01"); got != "" {
		t.Fatalf("after 24 s: %q", got)
	}
	f.advance(time.Second)
	if got := f.conditions("chair-01"); got != "chair_offline/low" {
		t.Fatalf("after 25 s of silence: %q", got)
	}
	if c, _ := f.m.Chair("chair-01"); c.Online {
		t.Error("silent chair still online")
	}
	f.must("chair-01", "state", stateMsg(true, "idle"))
	if got := f.conditions("chair-01"); got != "" {
		t.Fatalf("after a heartbeat: %q", got)
	}
}

// A seq hole counts as missing only after 60 s unfilled; a backlog that
// fills it in time raises nothing, and filling it later ends the alarm.
func TestSeqHoleRaisesRecordsMissingAfter60s(t *testing.T) {
	f := newFixture(t)
	f.must("chair-01", "state", stateMsg(true, "infusion"))
	f.must("chair-01", "vitals/spo2", spo2Msg(10, 0, "97"))
	f.must("chair-01", "vitals/spo2", spo2Msg(14, 4*time.Second, "96")) // 11..13 missing
	f.advance(59 * time.Second)
	f.must("chair-01", "state", stateMsg(true, "infusion"))
	if got := f.conditions("chair-01"); got != "" {
		t.Fatalf("hole after 59 s: %q", got)
	}
	f.must("chair-01", "vitals/spo2", spo2Msg(11, time.Second, "97"))
	f.advance(time.Second)
	c, _ := f.m.Chair("chair-01")
	if got := f.conditions("chair-01"); got != "records_missing/low" || c.RecordsMissing != 2 {
		t.Fatalf("after 60 s with 12, 13 missing: %q, records_missing %d", got, c.RecordsMissing)
	}
	f.must("chair-01", "vitals/spo2", spo2Msg(13, 3*time.Second, "97"))
	f.must("chair-01", "vitals/spo2", spo2Msg(12, 2*time.Second, "97"))
	if got := f.conditions("chair-01"); got != "" {
		t.Fatalf("hole filled, still %q", got)
	}
	// The backlog's older values never replace the newest one shown.
	if c, _ := f.m.Chair("chair-01"); c.SpO2.Value.V != 96 {
		t.Errorf("shown SpO2 %v, want the newest (96)", c.SpO2.Value)
	}
	// A hole filled within the minute is never an alarm.
	f.must("chair-01", "vitals/spo2", spo2Msg(20, 10*time.Second, "97"))
	f.advance(30 * time.Second)
	for seq := 15; seq < 20; seq++ {
		f.must("chair-01", "vitals/spo2", spo2Msg(seq, 5*time.Second, "97"))
	}
	f.advance(time.Minute)
	f.must("chair-01", "state", stateMsg(true, "infusion"))
	if got := f.conditions("chair-01"); got != "" {
		t.Fatalf("hole filled in time, yet %q", got)
	}
}

// A gap record is records the chair dropped: counted at once.
func TestGapRaisesRecordsMissing(t *testing.T) {
	f := newFixture(t)
	f.must("chair-01", "state", stateMsg(true, "idle"))
	f.must("chair-01", "gap", fmt.Sprintf(`{"v":1,"stream":"st1","seq":5,"boot":2,"clock_synced":true,"t":"%s","from_seq":1,"to_seq":4,"reason":"store_full"}`, ts(0)))
	if c, _ := f.m.Chair("chair-01"); c.RecordsMissing != 4 || f.conditions("chair-01") != "records_missing/low" {
		t.Fatalf("after a gap of 4: %d, %q", c.RecordsMissing, f.conditions("chair-01"))
	}
}

// A retained copy of an old record never opens a hole (the broker kept it;
// it is not the stream's newest).
func TestRetainedOldSeqOpensNoHole(t *testing.T) {
	f := newFixture(t)
	f.must("chair-01", "state", stateMsg(true, "infusion"))
	if err := f.send("chair-01", "session", sessionMsg(3, "infusion"), true); err != nil {
		t.Fatal(err)
	}
	f.must("chair-01", "vitals/spo2", spo2Msg(5000, 0, "97"))
	f.advance(2 * time.Minute)
	f.must("chair-01", "state", stateMsg(true, "infusion"))
	if got := f.conditions("chair-01"); got != "" {
		t.Fatalf("retained old seq then live: %q", got)
	}
}

// station_link_down shows on every chair while the station's broker
// connection is down, and ends with it.
func TestLinkDownOnEveryChair(t *testing.T) {
	f := newFixture(t)
	f.must("chair-01", "state", stateMsg(true, "idle"))
	f.must("chair-02", "state", stateMsg(true, "idle"))
	f.m.SetLink(LinkState{Down: true, Since: f.now, Reason: "connection refused"}, f.now)
	for _, c := range []string{"chair-01", "chair-02"} {
		if got := f.conditions(c); !strings.Contains(got, "station_link_down/high") {
			t.Errorf("%s: %q", c, got)
		}
	}
	if len(f.m.LinkAlarm()) != 1 {
		t.Error("no station-level link alarm")
	}
	f.m.SetLink(LinkState{Connected: true, Since: f.now}, f.now)
	f.must("chair-01", "state", stateMsg(true, "idle"))
	if got := f.conditions("chair-01"); got != "" {
		t.Errorf("link back, %q", got)
	}
}

// Bad payloads are refused whole, counted, and change nothing.
func TestBadPayloadsRefusedAndCounted(t *testing.T) {
	f := newFixture(t)
	f.must("chair-01", "vitals/spo2", spo2Msg(1, 0, "97"))
	bad := []struct{ topic, payload string }{
		{"chairside/chair-01/vitals/spo2", `{"v":1,"value":`},
		{"chairside/chair-01/vitals/spo2", strings.Replace(spo2Msg(2, time.Second, "50"), `"value":50`, `"value":"50"`, 1)},
		{"chairside/chair-01/vitals/spo2", spo2Msg(2, time.Second, "50") + "x"},
		{"chairside/chair-01/vitals/pulse", spo2Msg(2, time.Second, "50")},
		{"chairside/chair-01/alarms", `{"v":1,"t":"` + ts(0) + `","alarms":[{"v":1}]}`},
		{"chairside/chair-01/state", `[]`},
		{"chairside/CHAIR/state", stateMsg(true, "idle")},
		{"chairside/../state", stateMsg(true, "idle")},
		{"other/chair-01/state", stateMsg(true, "idle")},
		{"chairside/chair-01/vitals/spo2", `{"v":1,"pad":"` + strings.Repeat("x", 70000) + `"}`},
	}
	for _, b := range bad {
		if _, err := f.m.Handle(b.topic, []byte(b.payload), false, f.now); err == nil {
			t.Errorf("%s %.60s accepted", b.topic, b.payload)
		}
	}
	if n := f.m.Counts().Refused; n != uint64(len(bad)) {
		t.Errorf("refused count %d, want %d", n, len(bad))
	}
	c, _ := f.m.Chair("chair-01")
	if c.SpO2.Value.V != 97 || c.Pulse != nil || len(c.Alarms) != 0 {
		t.Errorf("a refused payload changed the chair: %+v", c)
	}
	if len(f.m.Chairs()) != 1 {
		t.Errorf("refused topics made chairs: %d", len(f.m.Chairs()))
	}
}

// 10 000 retained topics (made-up chairs and suffixes) are taken or refused
// without growing the model past its bound.
func TestTenThousandRetainedTopics(t *testing.T) {
	f := newFixture(t)
	f.m.cfg.MaxChairs = 500
	for i := range 10000 {
		chair := fmt.Sprintf("chair-%d", i)
		_ = f.send(chair, "state", stateMsg(true, "idle"), true)
		_ = f.send("chair-1", fmt.Sprintf("junk/%d", i), "{}", true)
	}
	if n := len(f.m.Chairs()); n != 500 {
		t.Fatalf("%d chairs kept, want the bound 500", n)
	}
	cnt := f.m.Counts()
	if cnt.TooManyChairs != 9500 || cnt.Ignored != 10000 {
		t.Fatalf("counts %+v", cnt)
	}
}

// Changes are handed out once; alarm-list changes are urgent, vitals not.
func TestTakeChangedCoalesces(t *testing.T) {
	f := newFixture(t)
	f.must("chair-01", "state", stateMsg(true, "idle"))
	f.m.TakeChanged()
	for i := 1; i <= 5; i++ {
		f.must("chair-01", "vitals/spo2", spo2Msg(i, time.Duration(i)*time.Second, "97"))
	}
	got, urgent := f.m.TakeChanged()
	if len(got) != 1 || urgent {
		t.Fatalf("five vitals: %d chairs, urgent %v; want one, not urgent", len(got), urgent)
	}
	if got, _ := f.m.TakeChanged(); got != nil {
		t.Fatal("changes handed out twice")
	}
	f.must("chair-01", "alarms", `{"v":1,"t":"`+ts(time.Second)+`","audio_paused_until":null,"alarms":[]}`)
	if _, urgent := f.m.TakeChanged(); !urgent {
		t.Fatal("an alarm list change is not urgent")
	}
}

// TakeUrgent hands out only the urgently changed chairs; the others wait
// for the next TakeChanged.
func TestTakeUrgentLeavesTheRest(t *testing.T) {
	f := newFixture(t)
	f.must("chair-01", "state", stateMsg(true, "idle"))
	f.must("chair-02", "state", stateMsg(true, "idle"))
	f.m.TakeChanged()
	f.must("chair-01", "vitals/spo2", spo2Msg(1, time.Second, "97"))
	f.must("chair-02", "alarms", `{"v":1,"t":"`+ts(time.Second)+`","audio_paused_until":null,"alarms":[]}`)
	if got := f.m.TakeUrgent(); len(got) != 1 || got[0].Chair != "chair-02" {
		t.Fatalf("urgent: %+v", got)
	}
	if got, _ := f.m.TakeChanged(); len(got) != 1 || got[0].Chair != "chair-01" {
		t.Fatalf("the rest: %+v", got)
	}
}

// While the station's own link is down, the chairs' silence is not
// chair_offline (the station is the one cut off); back up, each chair gets
// offline_after to be heard again.
func TestLinkDownIsNotChairOffline(t *testing.T) {
	f := newFixture(t)
	f.must("chair-01", "state", stateMsg(true, "infusion"))
	f.m.SetLink(LinkState{Connected: false, Down: true, Since: f.now, Reason: "refused"}, f.now)
	f.advance(2 * time.Minute)
	if got := f.conditions("chair-01"); got != "station_link_down/high" {
		t.Fatalf("link down 2 min: %q, want only station_link_down", got)
	}
	f.m.SetLink(LinkState{Connected: true, Since: f.now}, f.now)
	f.advance(24 * time.Second)
	if got := f.conditions("chair-01"); got != "" {
		t.Fatalf("24 s after the link came back: %q", got)
	}
	f.advance(time.Second)
	if got := f.conditions("chair-01"); got != "chair_offline/medium" {
		t.Fatalf("25 s after the link came back, chair silent: %q", got)
	}
}

// A chair clock set back (an NTP step) never freezes what is shown: order
// is by seq within a stream, and the alarms list is the last to arrive.
func TestClockSetBackStillUpdates(t *testing.T) {
	f := newFixture(t)
	f.must("chair-01", "state", stateMsg(true, "infusion"))
	f.must("chair-01", "vitals/spo2", spo2Msg(10, time.Hour, "97")) // clock an hour ahead
	f.must("chair-01", "alarms", `{"v":1,"t":"`+ts(time.Hour)+`","audio_paused_until":null,"alarms":[]}`)
	f.must("chair-01", "vitals/spo2", spo2Msg(11, 0, "85")) // clock stepped back
	f.must("chair-01", "alarms", `{"v":1,"t":"`+ts(0)+`","audio_paused_until":null,"alarms":[{"v":1,"t":"`+ts(0)+`","id":"a-1-1","condition":"spo2_low","kind":"physiological","priority":"high","phase":"start","state":"active","message":"SpO2 85 < 88"}]}`)
	c, _ := f.m.Chair("chair-01")
	if c.SpO2.Value.V != 85 || len(c.Alarms) != 1 {
		t.Fatalf("after the clock stepped back: SpO2 %v, %d alarms; want 85 and the new alarm", c.SpO2.Value, len(c.Alarms))
	}
	// An older seq of the same stream (the backlog) does not replace it.
	f.must("chair-01", "vitals/spo2", spo2Msg(9, 2*time.Hour, "99"))
	if c, _ := f.m.Chair("chair-01"); c.SpO2.Value.V != 85 {
		t.Fatalf("backlog seq 9 replaced seq 11: %v", c.SpO2.Value)
	}
}
