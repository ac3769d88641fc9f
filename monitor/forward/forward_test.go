package forward

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/archive"
	"github.com/chairside/chairside/monitor/hl7"
	"github.com/chairside/chairside/monitor/hl7/hl7test"
)

func ids(got []hl7test.Received) []string {
	var out []string
	for _, r := range got {
		out = append(out, r.ControlID)
	}
	return out
}

// exportOrder is the control ids of a session's export (in time order).
func exportOrder(t *testing.T, db *archive.DB, session string) []string {
	t.Helper()
	recs, err := db.SessionRecords(context.Background(), session)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := SessionMessages(testHL7, session, recs)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, m.ControlID)
	}
	return out
}

func step(t *testing.T, f *Forwarder) {
	t.Helper()
	if err := f.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Records stored → an NIBP's message queued with it and sent at once; a
// minute's once a later record of its stream proves it complete; the last
// minute after the quiet time. Each once, in the outbox's order, and the
// same bytes as `recorder export -format hl7` makes from the database.
func TestForwardsEachOnceInOrder(t *testing.T) {
	backends(t, func(t *testing.T, open func() *archive.DB) {
		db := open()
		ctx := context.Background()
		r := hl7test.Start(t, hl7test.AA)
		clk := &clock{now: t0.Add(5 * time.Second)}
		f := newForwarder(t, db, "records-1", newClient(t, r.Target()).Send, clk)
		c := newChair(t, "chair-07", "s-20261204-1015-1")

		store(t, db, clk.Now(), append([]archive.Record{c.sessionRec(0)}, c.seconds(0, 30, 20)...)...)
		step(t, f)
		if got := ids(r.Got()); !slices.Equal(got, []string{"chair-07.n.st-chair-07.44"}) {
			t.Fatalf("after 30 s: receiver got %v, want the NIBP only", got)
		}
		clk.Add(30 * time.Second)
		store(t, db, clk.Now(), c.seconds(30, 60)...)
		step(t, f)
		if n := len(r.Got()); n != 1 {
			t.Fatalf("minute 10:15 sent before a later record proved it complete (%d messages)", n)
		}
		clk.Add(30 * time.Second)
		store(t, db, clk.Now(), c.seconds(60, 150, 100)...)
		step(t, f)
		// 10:15 and 10:16 are followed by later records; the NIBP at
		// 10:16:40 goes between them, by time, as in the export.
		want := []string{"chair-07.n.st-chair-07.44", "chair-07.m.s-20261204-1015-1.202612041015",
			"chair-07.n.st-chair-07.205", "chair-07.m.s-20261204-1015-1.202612041016"}
		if got := ids(r.Got()); !slices.Equal(got, want) {
			t.Fatalf("receiver got\n%v\nwant\n%v", got, want)
		}
		// The last minute has no later record: it goes after the quiet time.
		clk.Add(DefaultQuiet - time.Second)
		step(t, f)
		if n := len(r.Got()); n != 4 {
			t.Fatalf("the last minute went before the quiet time (%d messages)", n)
		}
		clk.Add(2 * time.Second)
		step(t, f)
		step(t, f)
		got := r.Got()
		want = append(want, "chair-07.m.s-20261204-1015-1.202612041017")
		if !slices.Equal(ids(got), want) {
			t.Fatalf("receiver got\n%v\nwant\n%v", ids(got), want)
		}
		if s := f.Stats(); s.Sent != 5 || s.MinutesQueued != 3 || s.MinutesQuiet != 1 {
			t.Fatalf("stats %+v", s)
		}
		for _, o := range outbox(t, db) {
			if o.Status != archive.OutboxSent || o.AckCode != "AA" || o.Attempts != 1 || o.Claim != "" {
				t.Errorf("outbox row %+v", o)
			}
		}
		// The export from the database is the same messages, byte for byte.
		recs, err := db.SessionRecords(ctx, "s-20261204-1015-1")
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := SessionMessages(testHL7, "s-20261204-1015-1", recs)
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string][]byte{}
		for _, g := range got {
			byID[g.ControlID] = g.Frame
		}
		if len(msgs) != len(got) {
			t.Fatalf("export has %d messages, the receiver got %d", len(msgs), len(got))
		}
		for _, m := range msgs {
			if !bytes.Equal(m.Bytes(), byID[m.ControlID]) {
				t.Errorf("export of %s differs from what was sent:\n%s\nsent:\n%s", m.ControlID, m, byID[m.ControlID])
			}
		}
		if !strings.Contains(string(byID[want[1]]), "PV1||O|^^chair-07^CLINIC||||||||||||||||enc-881") {
			t.Errorf("the minute's message lacks the session's encounter:\n%s", byID[want[1]])
		}
		// Nothing more to send, ever: no second copy.
		clk.Add(time.Hour)
		step(t, f)
		if n := len(r.Got()); n != 5 {
			t.Fatalf("%d messages after an idle hour", n)
		}
	})
}

// A record of a minute missing (a hole in the stream) holds the minute,
// and the chair's later minutes, until the record comes or the quiet time
// passes; a record of a minute already queued is archived and counted late,
// never queued again.
func TestHoleHoldsMinuteAndLateRecordsCount(t *testing.T) {
	backends(t, func(t *testing.T, open func() *archive.DB) {
		db := open()
		ctx := context.Background()
		r := hl7test.Start(t, hl7test.AA)
		clk := &clock{now: t0}
		f := newForwarder(t, db, "records-1", newClient(t, r.Target()).Send, clk)
		c := newChair(t, "chair-03", "s-1")
		recs := c.seconds(0, 130)
		held := recs[10] // seq 11, in minute 10:15
		store(t, db, clk.Now(), slices.Delete(slices.Clone(recs), 10, 11)...)
		step(t, f)
		if got := r.Got(); len(got) != 0 {
			t.Fatalf("minutes sent with a record missing: %v", ids(got))
		}
		clk.Add(time.Minute)
		store(t, db, clk.Now(), held)
		step(t, f)
		want := []string{"chair-03.m.s-1.202612041015", "chair-03.m.s-1.202612041016"}
		if got := ids(r.Got()); !slices.Equal(got, want) {
			t.Fatalf("after the missing record came: %v, want %v", got, want)
		}
		// The quiet time passes: 10:17 goes; then a late record of 10:15.
		clk.Add(DefaultQuiet)
		step(t, f)
		late := c.vital("spo2", 30*time.Second, 50)
		late.Seq = 1000
		store(t, db, clk.Now(), late)
		clk.Add(DefaultQuiet)
		step(t, f)
		if got := ids(r.Got()); !slices.Equal(got, append(want, "chair-03.m.s-1.202612041017")) {
			t.Fatalf("got %v", got)
		}
		st, err := db.HL7Status(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if st.LateRecords != 1 || st.OpenMinutes != 0 || st.ByStatus["sent"] != 3 || st.Head != nil {
			t.Fatalf("status %+v", st)
		}
	})
}

// The receiver down for a minute (a fake clock: no real waiting; the
// connection attempts are real and refused): the head message is retried
// with the back-off, nothing after it goes first, nothing is dropped; once
// the receiver is up every message arrives once, in order.
func TestReceiverDownForAMinute(t *testing.T) {
	backends(t, func(t *testing.T, open func() *archive.DB) {
		db := open()
		ctx := context.Background()
		r := hl7test.Start(t, hl7test.AA)
		r.Down()
		clk := &clock{now: t0}
		f := newForwarder(t, db, "records-1", newClient(t, r.Target()).Send, clk)
		c := newChair(t, "chair-01", "s-1")
		var all []archive.Record
		for s := 0; s < 60; s += 10 {
			batch := c.seconds(s, s+10, s+5)
			all = append(all, batch...)
			store(t, db, clk.Now(), batch...)
			for range 10 {
				clk.Add(time.Second)
				step(t, f)
			}
		}
		st, err := db.HL7Status(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if st.Head == nil || st.Head.ControlID != "chair-01.n.st-chair-01.13" || st.Head.LastError == "" ||
			st.Head.NextAttempt.IsZero() || st.ByStatus["pending"] != 6 {
			t.Fatalf("while down: status %+v head %+v", st, st.Head)
		}
		// Tries at 1, 2, 4, 8, 16, 32 and 48 s (1 s doubling up to 16 s).
		if a := st.Head.Attempts; a != 7 {
			t.Errorf("%d attempts in a minute down, want 7 (1 s doubling to 16 s)", a)
		}
		if s := f.Stats(); s.Retries != 7 || s.Sent != 0 {
			t.Fatalf("stats while down %+v", s)
		}
		r.Up()
		store(t, db, clk.Now(), c.seconds(60, 61)...) // closes minute 10:15
		step(t, f)
		if n := len(r.Got()); n != 0 {
			t.Fatalf("sent before the back-off ended: %d", n)
		}
		clk.Add(16 * time.Second)
		step(t, f)
		got := ids(r.Got())
		want := exportOrder(t, db, "s-1")
		for _, o := range outbox(t, db) {
			if o.Status != archive.OutboxSent {
				t.Errorf("%s %s", o.ControlID, o.Status)
			}
		}
		// Six NIBPs and the minute 10:15 (10:16 waits for its end).
		if len(got) != 7 || !slices.Equal(got, want[:7]) {
			t.Fatalf("after the receiver came up: got\n%v\nwant (the export's order)\n%v", got, want)
		}
	})
}

// AE and AR: kept with the receiver's reason, not sent again, and the
// messages after them go on; status lists them.
func TestRefusedKeptWithReason(t *testing.T) {
	backends(t, func(t *testing.T, open func() *archive.DB) {
		db := open()
		ctx := context.Background()
		r := hl7test.Start(t, func(m hl7test.Received, _ int) hl7test.Answer {
			switch {
			case strings.HasSuffix(m.ControlID, ".3"):
				return hl7test.Answer{Code: "AE", Text: "unknown patient s-1"}
			case strings.HasSuffix(m.ControlID, ".5"):
				return hl7test.Answer{Code: "AR", Text: "no such facility"}
			}
			return hl7test.Answer{Code: "AA"}
		})
		clk := &clock{now: t0}
		f := newForwarder(t, db, "records-1", newClient(t, r.Target()).Send, clk)
		c := newChair(t, "chair-02", "s-1")
		store(t, db, clk.Now(), c.nibp(1*time.Second, 120), c.nibp(2*time.Second, 121), c.nibp(3*time.Second, 122),
			c.nibp(4*time.Second, 123), c.nibp(5*time.Second, 124), c.nibp(6*time.Second, 125))
		for range 3 {
			step(t, f)
			clk.Add(time.Minute)
		}
		if got := ids(r.Got()); len(got) != 6 {
			t.Fatalf("receiver got %v: a refused message was sent again or held the rest", got)
		}
		st, err := db.HL7Status(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if st.ByStatus["refused"] != 2 || st.ByStatus["sent"] != 4 || len(st.Refused) != 2 {
			t.Fatalf("status %+v", st)
		}
		if r := st.Refused[0]; r.ControlID != "chair-02.n.st-chair-02.5" || r.AckCode != "AR" || r.Reason != "no such facility" {
			t.Errorf("newest refused %+v", r)
		}
		if r := st.Refused[1]; r.ControlID != "chair-02.n.st-chair-02.3" || r.AckCode != "AE" || r.Reason != "unknown patient s-1" {
			t.Errorf("older refused %+v", r)
		}
	})
}

// A recorder stopped after the receiver took a message and before it was
// marked sent (the ack lost): at the next start the same recorder sends it
// again, same control id and bytes, and marks it once. The receiver sees it
// twice with one id: that is how it drops the copy.
func TestResendAfterLostAckSameControlID(t *testing.T) {
	backends(t, func(t *testing.T, open func() *archive.DB) {
		db := open()
		r := hl7test.Start(t, hl7test.AA)
		clk := &clock{now: t0}
		c := newChair(t, "chair-05", "s-1")
		store(t, db, clk.Now(), c.nibp(time.Second, 120), c.nibp(2*time.Second, 121))
		ctx, stop := context.WithCancel(context.Background())
		cl := newClient(t, r.Target())
		// The first recorder dies right after the receiver answered.
		f1 := newForwarder(t, db, "records-1", func(ctx context.Context, m hl7.Message) (hl7.Ack, error) {
			ack, err := cl.Send(ctx, m)
			stop()
			return ack, err
		}, clk)
		if err := f1.Step(ctx); err != nil {
			t.Fatal(err)
		}
		rows := outbox(t, db)
		if rows[0].Status != archive.OutboxPending || rows[0].Claim != "records-1" {
			t.Fatalf("after the crash: %+v", rows[0])
		}
		// Another recorder cannot take it while the claim lives ...
		other := newForwarder(t, open(), "records-2", newClient(t, r.Target()).Send, clk)
		step(t, other)
		if n := len(r.Got()); n != 1 {
			t.Fatalf("another recorder sent during the claim: %d", n)
		}
		// ... the same recorder, restarted, takes it at once.
		f2 := newForwarder(t, open(), "records-1", newClient(t, r.Target()).Send, clk)
		step(t, f2)
		got := r.Got()
		if len(got) != 3 || got[0].ControlID != "chair-05.n.st-chair-05.1" || got[1].ControlID != got[0].ControlID ||
			!bytes.Equal(got[0].Frame, got[1].Frame) || got[2].ControlID != "chair-05.n.st-chair-05.2" {
			t.Fatalf("receiver got %v", ids(got))
		}
		for _, o := range outbox(t, db) {
			if o.Status != archive.OutboxSent || o.Claim != "" {
				t.Errorf("%+v", o)
			}
		}
	})
}

// A claim left by a recorder that died for good is taken by another one
// after the lease.
func TestExpiredClaimTakenOver(t *testing.T) {
	backends(t, func(t *testing.T, open func() *archive.DB) {
		db := open()
		ctx := context.Background()
		clk := &clock{now: t0}
		c := newChair(t, "chair-05", "s-1")
		store(t, db, clk.Now(), c.nibp(time.Second, 120))
		m, err := db.Claim(ctx, "records-1", clk.Now(), clk.Now().Add(DefaultLease))
		if err != nil || m == nil {
			t.Fatalf("claim %v %v", m, err)
		}
		if m2, err := db.Claim(ctx, "records-2", clk.Now().Add(DefaultLease-time.Millisecond), clk.Now().Add(2*DefaultLease)); err != nil || m2 != nil {
			t.Fatalf("a live claim was taken: %v %v", m2, err)
		}
		m2, err := db.Claim(ctx, "records-2", clk.Now().Add(DefaultLease+time.Millisecond), clk.Now().Add(2*DefaultLease))
		if err != nil || m2 == nil || m2.ID != m.ID {
			t.Fatalf("an expired claim was not taken over: %v %v", m2, err)
		}
		if ok, err := db.Done(ctx, m.ID, "records-1", archive.OutboxSent, "AA", "", clk.Now()); err != nil || ok {
			t.Fatalf("the first holder marked a message it no longer holds: %v %v", ok, err)
		}
	})
}

// Two recorders forwarding from one database at the same time (a share
// group; real clocks, real receiver): every message reaches the receiver
// once, in the outbox's order.
func TestTwoRecordersNeverBothSend(t *testing.T) {
	backends(t, func(t *testing.T, open func() *archive.DB) {
		db := open()
		r := hl7test.Start(t, hl7test.AA)
		now := time.Now()
		var want []string
		for i := range 4 {
			c := newChair(t, fmt.Sprintf("chair-%02d", i), fmt.Sprintf("s-%d", i))
			var recs []archive.Record
			for n := range 15 {
				recs = append(recs, c.nibp(time.Duration(n)*time.Second, 120))
			}
			store(t, db, now, recs...)
		}
		for _, o := range outbox(t, db) {
			want = append(want, o.ControlID)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		for _, name := range []string{"records-1", "records-2"} {
			f := newForwarder(t, open(), name, newClient(t, r.Target()).Send, nil)
			wg.Add(1)
			go func() { defer wg.Done(); _ = f.Run(ctx) }()
		}
		deadline := time.Now().Add(20 * time.Second)
		for len(r.Got()) < len(want) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // a second copy would come now
		cancel()
		wg.Wait()
		if got := ids(r.Got()); !slices.Equal(got, want) {
			t.Fatalf("receiver got %d messages:\n%v\nwant each of %d once, in order", len(got), got, len(want))
		}
	})
}

// Claims racing on one row: on PostgreSQL (and SQLite) exactly one of many
// concurrent claimers gets the oldest message, every time.
func TestClaimRace(t *testing.T) {
	backends(t, func(t *testing.T, open func() *archive.DB) {
		db := open()
		ctx := context.Background()
		c := newChair(t, "chair-09", "s-1")
		var recs []archive.Record
		for n := range 20 {
			recs = append(recs, c.nibp(time.Duration(n)*time.Second, 120))
		}
		store(t, db, t0, recs...)
		dbs := []*archive.DB{db, open(), open(), open()}
		for round := range 20 {
			var mu sync.Mutex
			var winners []string
			var ids []int64
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					holder := fmt.Sprintf("r-%d", i)
					m, err := dbs[i%len(dbs)].Claim(ctx, holder, t0, t0.Add(time.Minute))
					if err != nil {
						t.Error(err)
						return
					}
					if m != nil {
						mu.Lock()
						winners = append(winners, holder)
						ids = append(ids, m.ID)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(winners) != 1 {
				t.Fatalf("round %d: %d claimers got the message: %v", round, len(winners), winners)
			}
			if ok, err := db.Done(ctx, ids[0], winners[0], archive.OutboxSent, "AA", "", t0); err != nil || !ok {
				t.Fatalf("done: %v %v", ok, err)
			}
		}
	})
}

// A message that cannot be built (an NIBP without a time) is kept as
// failed with the reason and does not hold the others back.
func TestUnbuildableKeptAsFailed(t *testing.T) {
	backends(t, func(t *testing.T, open func() *archive.DB) {
		db := open()
		ctx := context.Background()
		r := hl7test.Start(t, hl7test.AA)
		f := newForwarder(t, db, "records-1", newClient(t, r.Target()).Send, &clock{now: t0})
		c := newChair(t, "chair-04", "s-1")
		bad := c.nibp(time.Second, 120)
		bad.Payload = bytes.Replace(bad.Payload, []byte(`"t":"2026-12-04T10:15:01.000Z"`), []byte(`"t":null`), 1)
		bad.T = time.Time{}
		res, err := db.Write(ctx, archive.Batch{Records: []archive.Record{bad, c.nibp(2*time.Second, 121)}}, t0)
		if err != nil || res.Unbuildable != 1 || res.Queued != 1 || !bytes.Contains(bad.Payload, []byte(`"t":null`)) {
			t.Fatalf("write %+v %v (payload %s)", res, err, bad.Payload)
		}
		step(t, f)
		if got := ids(r.Got()); !slices.Equal(got, []string{"chair-04.n.st-chair-04.2"}) {
			t.Fatalf("got %v", got)
		}
		st, _ := db.HL7Status(ctx, 10)
		if len(st.Refused) != 1 || st.Refused[0].Status != archive.OutboxFailed || !strings.Contains(st.Refused[0].Reason, "no time") {
			t.Fatalf("failed row %+v", st.Refused)
		}
	})
}

// Two chairs that started a session in the same second share its id: each
// gets its own minute messages, with its own session record's encounter.
func TestSameSessionIDOnTwoChairs(t *testing.T) {
	backends(t, func(t *testing.T, open func() *archive.DB) {
		db := open()
		r := hl7test.Start(t, hl7test.AA)
		clk := &clock{now: t0}
		f := newForwarder(t, db, "records-1", newClient(t, r.Target()).Send, clk)
		a, b := newChair(t, "chair-01", "s-1"), newChair(t, "chair-02", "s-1")
		sa, sb := a.sessionRec(0), b.sessionRec(0)
		sb.Payload = bytes.Replace(sb.Payload, []byte("enc-881"), []byte("enc-999"), 1)
		store(t, db, clk.Now(), append(append([]archive.Record{sa, sb}, a.seconds(0, 61)...), b.seconds(0, 61)...)...)
		step(t, f)
		got := r.Got()
		if ids := ids(got); !slices.Equal(ids, []string{"chair-01.m.s-1.202612041015", "chair-02.m.s-1.202612041015"}) {
			t.Fatalf("got %v", ids)
		}
		if !bytes.Contains(got[0].Frame, []byte("|enc-881\r")) || !bytes.Contains(got[1].Frame, []byte("|enc-999\r")) ||
			!bytes.Contains(got[0].Frame, []byte("SpO2 median of 60 valid values in 60 records")) {
			t.Fatalf("messages mixed the chairs:\n%s\n%s", got[0].Frame, got[1].Frame)
		}
	})
}

// A minute goes by the quiet time only once its chair is settled: a chair
// that went offline with records of the minute still in its store (a broker
// or network outage) holds its minute until it has been back online for
// archive.ChairSettle and its backlog has come.
func TestQuietWaitsForTheChairToSettle(t *testing.T) {
	backends(t, func(t *testing.T, open func() *archive.DB) {
		db := open()
		ctx := context.Background()
		r := hl7test.Start(t, hl7test.AA)
		clk := &clock{now: t0}
		f := newForwarder(t, db, "records-1", newClient(t, r.Target()).Send, clk)
		c := newChair(t, "chair-06", "s-1")
		state := func(online bool) {
			t.Helper()
			p := []byte(fmt.Sprintf(`{"v":1,"online":%v}`, online))
			if _, err := db.Write(ctx, archive.Batch{States: []archive.State{{Chair: "chair-06", Online: online, Boot: 1, Stream: c.stream,
				Version: "t", T: clk.Now(), Payload: p}}}, clk.Now()); err != nil {
				t.Fatal(err)
			}
		}
		state(true)
		recs := c.seconds(0, 60)
		store(t, db, clk.Now(), recs[:40]...) // 10:15:00 to 10:15:19; then the chair is cut off
		clk.Add(5 * time.Second)
		state(false) // its Will
		clk.Add(DefaultQuiet)
		step(t, f)
		if n := len(r.Got()); n != 0 {
			t.Fatal("a minute of an offline chair went by the quiet time")
		}
		clk.Add(time.Minute)
		state(true) // back; its backlog follows
		step(t, f)
		if n := len(r.Got()); n != 0 {
			t.Fatal("a minute went before the chair's backlog could come")
		}
		clk.Add(time.Second)
		store(t, db, clk.Now(), recs[40:]...)
		for range 4 {
			clk.Add(10 * time.Second)
			state(true) // heartbeats
			step(t, f)
		}
		if n := len(r.Got()); n != 0 {
			t.Fatal("went before the quiet time after the backlog")
		}
		for range 12 {
			clk.Add(10 * time.Second)
			state(true)
			step(t, f)
		}
		got := r.Got()
		if len(got) != 1 || !bytes.Contains(got[0].Frame, []byte("SpO2 median of 60 valid values in 60 records")) {
			t.Fatalf("got %d messages: %s", len(got), got)
		}
		// A chair that stopped heartbeating (or a recorder cut off from
		// the broker) holds its minutes too.
		store(t, db, clk.Now(), c.seconds(60, 70)...)
		clk.Add(DefaultQuiet + time.Minute)
		step(t, f)
		if n := len(r.Got()); n != 1 {
			t.Fatal("a minute went while the chair's heartbeat was stale")
		}
		state(true)
		step(t, f)
		if n := len(r.Got()); n != 2 {
			t.Fatalf("%d messages once the heartbeat came back", n)
		}
		// A chair switched off for good: its last minute goes after
		// archive.ChairGone.
		store(t, db, clk.Now(), c.seconds(130, 140)...)
		state(false)
		clk.Add(archive.ChairGone - time.Second)
		step(t, f)
		if n := len(r.Got()); n != 2 {
			t.Fatal("a minute of an offline chair went before ChairGone")
		}
		clk.Add(time.Second)
		step(t, f)
		if n := len(r.Got()); n != 3 {
			t.Fatalf("%d messages: the offline chair's minute never went", n)
		}
	})
}

// Per chair, time order holds even when a minute takes long to prove
// complete: an NIBP after a minute that is still open waits for it, while
// another chair's messages go.
func TestNIBPWaitsForTheMinuteBeforeIt(t *testing.T) {
	backends(t, func(t *testing.T, open func() *archive.DB) {
		db := open()
		r := hl7test.Start(t, hl7test.AA)
		clk := &clock{now: t0}
		f := newForwarder(t, db, "records-1", newClient(t, r.Target()).Send, clk)
		a, b := newChair(t, "chair-01", "s-a"), newChair(t, "chair-02", "s-b")
		recs := a.seconds(0, 70, 65) // the NIBP at 10:16:05
		held := recs[10]
		store(t, db, clk.Now(), slices.Delete(slices.Clone(recs), 10, 11)...)
		store(t, db, clk.Now(), b.nibp(30*time.Second, 130))
		step(t, f)
		if got := ids(r.Got()); !slices.Equal(got, []string{"chair-02.n.st-chair-02.1"}) {
			t.Fatalf("got %v: chair-01's NIBP went before its earlier minute, or chair-02 was held", got)
		}
		store(t, db, clk.Now(), held)
		step(t, f)
		want := []string{"chair-02.n.st-chair-02.1", "chair-01.m.s-a.202612041015", "chair-01.n.st-chair-01.133"}
		if got := ids(r.Got()); !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}
