package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/chairside/chairside/monitor/wire"
)

func TestBoundDropsOldestVitalsWritesGapKeepsAlarms(t *testing.T) {
	opts := quiet()
	opts.MaxBytes = 16 << 10
	s, k := openS(t, t.TempDir(), opts)
	defer closeT(t, s)
	kinds := map[uint64]string{}
	for i := 0; i < 200; i++ {
		switch {
		case i%20 == 0:
			r := commitT(t, s, root+"/alarm", alarm(fmt.Sprintf("a-1-%d", i)), true)
			kinds[r.Seq] = r.Topic
		case i%50 == 7:
			commitT(t, s, root+"/vitals/nibp", &wire.NIBP{Param: "nibp", Systolic: wire.N(120)}, false)
		case i%2 == 0:
			commitT(t, s, root+"/vitals/spo2", vital(97), false)
		default:
			commitT(t, s, root+"/vitals/pulse", vital(70), false)
		}
		if i%10 == 9 {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, r := range k.all() {
		kinds[r.Seq] = r.Topic
	}
	if len(kinds) != 200 {
		t.Fatalf("%d records reached the publisher, want 200", len(kinds))
	}
	st := s.Stats()
	if st.Bytes > opts.MaxBytes || st.Gaps == 0 || st.Dropped == 0 || st.Full {
		t.Fatalf("stats %+v: want under the bound, with gaps", st)
	}
	recs := pendingT(t, s)
	have := map[uint64]bool{}
	var gaps []wire.Gap
	for _, r := range recs {
		have[r.Seq] = true
		if r.Topic == root+"/gap" {
			g := gapOf(t, r)
			if g.Reason != ReasonFull || g.FromSeq > g.ToSeq || g.Seq != r.Seq {
				t.Errorf("gap %+v", g)
			}
			gaps = append(gaps, g)
		}
	}
	if uint64(len(gaps)) != st.Gaps {
		t.Errorf("%d gap records, stats say %d", len(gaps), st.Gaps)
	}
	var dropped []uint64
	for seq, topic := range kinds {
		if have[seq] {
			continue
		}
		dropped = append(dropped, seq)
		if classify(topic) != classDroppable {
			t.Errorf("seq %d (%s) was dropped", seq, topic)
		}
		if !slices.ContainsFunc(gaps, func(g wire.Gap) bool { return g.FromSeq <= seq && seq <= g.ToSeq }) {
			t.Errorf("seq %d dropped without a gap covering it", seq)
		}
	}
	slices.Sort(dropped)
	// Oldest first: every dropped vital is older than every kept one.
	for seq, topic := range kinds {
		if have[seq] && classify(topic) == classDroppable && seq < dropped[len(dropped)-1] {
			t.Errorf("kept vital %d older than dropped %d", seq, dropped[len(dropped)-1])
		}
	}
	if uint64(len(dropped)) != st.Dropped {
		t.Errorf("%d dropped, stats say %d", len(dropped), st.Dropped)
	}
}

func TestFullOfAlarmsRefusesVitalsButTakesAlarms(t *testing.T) {
	opts := quiet()
	opts.MaxBytes = 4 << 10
	s := openT(t, t.TempDir(), opts)
	defer closeT(t, s)
	var alarms []uint64
	for !s.Stats().Full {
		alarms = append(alarms, commitT(t, s, root+"/alarm", alarm("a"), true).Seq)
		if len(alarms) > 100 {
			t.Fatal("never full")
		}
	}
	last := alarms[len(alarms)-1]
	for _, topic := range []string{root + "/vitals/spo2", root + "/vitals/nibp"} {
		if _, err := s.Commit(topic, vital(97), true, false); !errors.Is(err, ErrFull) {
			t.Errorf("%s while full: %v", topic, err)
		}
	}
	a := commitT(t, s, root+"/alarm", alarm("b"), true)
	ss := commitT(t, s, root+"/session", &wire.Session{ID: "s-1", Phase: "ended"}, true)
	if a.Seq != last+1 || ss.Seq != last+2 {
		t.Errorf("alarm %d and session %d after %d: refused vitals used seqs", a.Seq, ss.Seq, last)
	}
	if st := s.Stats(); st.Refused != 2 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
	if n := len(pendingT(t, s)); n != len(alarms)+2 {
		t.Errorf("%d records kept, want every alarm", n)
	}
	// The broker catches up: vitals are taken again.
	for _, seq := range alarms {
		s.Ack(seq)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(root+"/vitals/spo2", vital(97), true, false); err != nil {
		t.Errorf("vital after the backlog drained: %v", err)
	}
}
