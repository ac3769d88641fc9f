package nonin

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/chairside/chairside/drivers/serialport/serialtest"
	"github.com/chairside/chairside/monitor/vitals"
)

// TestQuietFrames: the frames a paced reader may leave in the buffer are
// the packet's frames up to index 24, before the SYNC frame that closes the
// packet and emits its values; none while the packet position is unknown,
// when the next frame is that SYNC, or in DF8.
func TestQuietFrames(t *testing.T) {
	enc, _ := NewEncoder(DF2)
	st := Steady(97, 72)
	d, _ := newDec(t, DF2)
	if q := d.QuietFrames(); q != 0 {
		t.Errorf("QuietFrames before any frame = %d, want 0", q)
	}
	// Opened mid-packet: index unknown until the SYNC.
	for enc.Index() != 20 {
		enc.Append(nil, &st)
	}
	for i := 20; i < packetFrames; i++ {
		d.Feed(enc.Append(nil, &st))
		if q := d.QuietFrames(); q != 0 {
			t.Errorf("QuietFrames before the first SYNC = %d, want 0", q)
		}
	}
	for pkt := 0; pkt < 2; pkt++ {
		for i := 0; i < packetFrames; i++ {
			f := enc.Append(nil, &st)
			d.Feed(f[:2]) // a frame begun: the position still counts
			prev := i - 1 // the last complete frame
			if prev < 0 {
				prev = packetFrames - 1
			}
			want := packetFrames - 1 - prev // 0 when the SYNC has begun
			if pkt == 0 && i == 0 {
				want = 0 // the first SYNC frame is not complete yet
			}
			if q := d.QuietFrames(); q != want {
				t.Errorf("packet %d, frame %d begun: QuietFrames = %d, want %d", pkt, i, q, want)
			}
			d.Feed(f[2:])
			want = packetFrames - 1 - i
			if q := d.QuietFrames(); q != want {
				t.Errorf("packet %d, after frame %d: QuietFrames = %d, want %d", pkt, i, q, want)
			}
		}
	}
	enc.Append(nil, &st) // the SYNC frame lost in the garbage
	d.Feed([]byte{0xff}) // garbage: hunting, position lost
	d.Feed(enc.Append(nil, &st))
	if q := d.QuietFrames(); q != 0 {
		t.Errorf("QuietFrames after a framing error = %d, want 0", q)
	}

	d8, _ := newDec(t, DF8)
	e8, _ := NewEncoder(DF8)
	for i := 0; i < 3; i++ {
		d8.Feed(e8.Append(nil, &st))
	}
	if q := d8.QuietFrames(); q != 0 {
		t.Errorf("DF8 QuietFrames = %d, want 0", q)
	}
}

// TestPacedReadsKeepValuesOnTime: the driver sleeps over the frames that
// emit no value, but each SpO2 still reaches the sink as the SYNC frame that
// closes its packet arrives, at the real frame rate.
func TestPacedReadsKeepValuesOnTime(t *testing.T) {
	pt := serialtest.New(t)
	snk := newSink()
	drv, err := New(pt.Name, &Opts{Format: DF2, Sensor: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- drv.Run(ctx, snk) }()
	defer func() { cancel(); <-done }()

	enc, _ := NewEncoder(DF2)
	tick := time.NewTicker(frameTime)
	defer tick.Stop()
	var worst time.Duration
	checked := 0
	for n := 0; n < 8*packetFrames; n++ {
		<-tick.C
		v := int16(90 + n/packetFrames) // a new SpO2 every packet
		st := Steady(v, 72)
		idx := enc.Index()
		if _, err := pt.Master.Write(enc.Append(nil, &st)); err != nil {
			t.Fatal(err)
		}
		if idx != 0 || n < 2*packetFrames {
			continue // let the driver open the port and lock first
		}
		sent := time.Now()
		v = int16(90 + (n-1)/packetFrames) // the packet this SYNC closes
		want := vitals.Reading{Sensor: 1, Param: vitals.SpO2, Value: v}
		for !hasReading(want, 0)(snk.snapshot()) {
			if time.Since(sent) > 100*time.Millisecond {
				t.Fatalf("SpO2 %d not read within 100ms of the SYNC closing its packet (a paused reader slept through it)", v)
			}
			select {
			case <-snk.notify:
			case <-time.After(time.Millisecond):
			}
		}
		worst = max(worst, time.Since(sent))
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d packets checked", checked)
	}
	t.Logf("worst SpO2 delay after its packet's closing SYNC: %v over %d packets", worst, checked)
}

// pacedDev is a Dev of format f on a fresh decoder, with an encoder and the
// steady state to make its stream, and the time one frame takes on the wire
// (ten bits a byte at 9600 baud), worked out here rather than by the code
// under test.
func pacedDev(t *testing.T, f Format) (*Encoder, *State, *Decoder, *Dev, time.Duration) {
	t.Helper()
	enc, _ := NewEncoder(f)
	st := Steady(97, 72)
	dec, _ := newDec(t, f)
	dev := &Dev{dec: dec, opts: Opts{Format: f}, log: slog.New(slog.DiscardHandler)}
	return enc, &st, dec, dev, time.Duration(f.frameLen()*10) * time.Second / 9600
}

// TestSlackEndsBeforeTheNextValue: wherever the stream stands, a paused
// session reads again at least slackMargin before the next value frame (the
// SYNC frame closing a packet) can be complete: k frames on, that is (k-1)
// frame times plus one frame's time on the wire (5 bytes at 9600 8N1) after
// a complete frame, and (k-1) frame times once the next frame has begun (it
// may be all but complete). After a SYNC frame it sleeps over most of the
// packet, so that one read takes frames 1 to 23.
func TestSlackEndsBeforeTheNextValue(t *testing.T) {
	for _, f := range []Format{DF2, DF7} {
		enc, st, dec, dev, wire := pacedDev(t, f)
		// framesToValue: how many frames after frame i the next value
		// frame (the SYNC, index 0) is.
		framesToValue := func(i int) int { return packetFrames - i }
		last := -1 // the last complete frame's index
		for n := 0; n < 4*packetFrames; n++ {
			i := enc.Index()
			fr := enc.Append(nil, st)
			dec.Feed(fr[:1])
			if n > packetFrames { // locked
				k := framesToValue(last)
				if s := dev.slack(false); s > 0 && s > time.Duration(k-1)*frameTime-slackMargin {
					t.Errorf("%v: frame %d begun after frame %d: slack %v reaches within %v of the value frame %d frames on", f, i, last, s, slackMargin, k)
				}
			}
			dec.Feed(fr[1:])
			last = i
			if n < packetFrames {
				continue
			}
			k := framesToValue(i)
			s := dev.slack(false)
			if s > 0 && s > time.Duration(k-1)*frameTime+wire-slackMargin {
				t.Errorf("%v: after frame %d: slack %v reaches within %v of the value frame %d frames on", f, i, s, slackMargin, k)
			}
			if min := time.Duration(packetFrames-3) * frameTime; i == 0 && s < min {
				t.Errorf("%v: after SYNC: slack %v; want at least %v (frames 1..23)", f, s, min)
			}
		}
	}
}

// TestSlackOnTheBeat: after a SYNC frame that arrived just now, the pause
// ends at least 4 ms after the packet's frame 24 can be complete and at least
// 4 ms before the next SYNC frame can begin, so the reader wakes for that
// frame (which closes the packet and emits its values) and not for the one
// before it. It stays on the beat while it comes back in time, keeps the
// margin for the rest of the session once it comes back after the SYNC frame
// has begun, and learns the beat anew on the next session. A chunk that
// waited in the buffer, or one that ends in a frame begun, gives the pause
// with the margin.
func TestSlackOnTheBeat(t *testing.T) {
	for _, f := range []Format{DF2, DF7} {
		enc, st, dec, dev, wire := pacedDev(t, f)
		// frames returns the stream's next frames up to and including the
		// one at index i.
		frames := func(i int) []byte {
			var b []byte
			for {
				idx := enc.Index()
				b = enc.Append(b, st)
				if idx == i {
					return b
				}
			}
		}
		// step feeds chunk as one read and checks the pause after it.
		step := func(what string, chunk []byte, fresh bool, want time.Duration) {
			t.Helper()
			dec.Feed(chunk)
			if got := dev.slack(fresh); got != want {
				t.Errorf("%v: %s: pause %v, want %v", f, what, got, want)
			}
		}
		lock := func() {
			for n := 0; n < 2*packetFrames; n++ {
				dec.Feed(enc.Append(nil, st))
			}
			dec.Feed(frames(0))
		}
		lock()
		margin := dev.slack(false) // after a SYNC, the chunk not fresh
		beat := dev.slack(true)
		last := time.Duration(packetFrames-1) * frameTime // from now to frame 24's end
		value := last + frameTime - wire                  // and to the next SYNC's first byte
		if beat-last < 4*time.Millisecond || value-beat < 4*time.Millisecond {
			t.Fatalf("%v: on the beat: pause %v; want it 4 ms or more after %v and before %v", f, beat, last, value)
		}
		if margin >= last-frameTime {
			t.Errorf("%v: not fresh: pause %v; want it to end before frame 23 can (%v)", f, margin, last-frameTime)
		}
		// In time: frames 1..24 waited in the buffer, the SYNC is fresh.
		for range 2 {
			step("back in time", frames(packetFrames-1), false, 0)
			step("SYNC", frames(0), true, beat)
		}
		step("back in time", frames(packetFrames-1), false, 0)
		sync, next := frames(0), frames(1)
		step("SYNC and the next frame begun", append(sync, next[:2]...), true, time.Duration(packetFrames-1)*frameTime-slackMargin)
		step("that frame's end", next[2:], true, beat-frameTime)
		// Late: the SYNC frame had begun.
		late := frames(0)
		step("late", late[:len(late)-3], false, 0)
		step("SYNC after a late return", late[len(late)-3:], true, margin)
		step("a packet in time", frames(0), true, margin)
		// The next session learns the beat again.
		dev.newSession()
		lock()
		if got := dev.slack(true); got != beat {
			t.Errorf("%v: next session: pause %v, want %v", f, got, beat)
		}
	}
}
