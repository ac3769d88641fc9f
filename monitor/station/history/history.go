// Package history keeps what the station has shown, so a restart of the
// station loses nothing a nurse saw: each chair's 1 Hz SpO2 and pulse
// trends, every NIBP, and every alarm message, for the configured keep
// period, in one bbolt file in store_dir.
//
// bbolt rewrites every page a commit touches, so how records are keyed
// decides how much is written. Trend points are gathered in memory into one
// block per chair, parameter and minute, and a block is written when its
// minute is over (and at shutdown), keyed minute first: each minute's
// blocks of every chair go to the right edge of one bucket, a few pages
// (about 40 MB an hour for 500 chairs, against 10 GB an hour with a key per
// point in a bucket per chair). A crash (not a stop) loses at most the open
// minute of trends; the live values come back from the chairs. NIBP and
// alarm messages, a few an hour per chair, are written within a second,
// keyed by time (an alarm also by its stream and seq, so a redelivery
// overwrites itself).
package history

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/chairside/chairside/monitor/station"
	"github.com/chairside/chairside/monitor/wire"
)

// Defaults.
const (
	DefaultCommitEvery = time.Second
	DefaultQueue       = 100000
	pruneEvery         = time.Hour
)

var (
	bucketChairs = []byte("chairs")
	bucketTrend  = []byte("trend")
	bucketNIBP   = []byte("nibp")
	bucketAlarm  = []byte("alarm")
)

// Options tune a History; zero fields take the defaults.
type Options struct {
	Keep        time.Duration // required: how long records are kept
	CommitEvery time.Duration
	Queue       int // records waiting for a commit; beyond it they are dropped and counted
	Logger      *slog.Logger
	Now         func() time.Time
}

// History is the station's store. Add from any goroutine; Run commits.
type History struct {
	db   *bolt.DB
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	pending []station.Effect
	open    map[blockKey]*block // trend blocks of minutes not yet written
	points  int                 // points in open blocks
	counter uint64              // makes block keys unique
	wake    chan struct{}
	dropped atomic.Uint64
	failed  atomic.Uint64
	done    chan struct{}
}

// Open opens (or makes) the history file.
func Open(path string, o Options) (*History, error) {
	if o.Keep <= 0 {
		return nil, errors.New("history: keep must be positive")
	}
	if o.CommitEvery == 0 {
		o.CommitEvery = DefaultCommitEvery
	}
	if o.Queue == 0 {
		o.Queue = DefaultQueue
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// The freelist is not written at each commit (rebuilt at open): fewer
	// pages written per commit.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("history: open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketChairs); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketTrend)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("history: %s: %w", path, err)
	}
	return &History{db: db, opts: o, log: o.Logger, wake: make(chan struct{}, 1), done: make(chan struct{}),
		open: map[blockKey]*block{}, counter: uint64(time.Now().UnixNano())}, nil
}

// Add queues what a message asks to store; it never blocks. Beyond the
// queue bound the record is dropped and counted (Dropped).
func (h *History) Add(e station.Effect) {
	if e.Trend == nil && e.NIBP == nil && e.Alarm == nil {
		return
	}
	h.mu.Lock()
	if len(h.pending)+h.points >= h.opts.Queue {
		h.mu.Unlock()
		h.dropped.Add(1)
		return
	}
	if e.Trend != nil {
		k := blockKey{chair: e.Chair, param: e.Trend.Param, minute: e.Trend.T.Truncate(time.Minute).UnixMilli()}
		b := h.open[k]
		if b == nil {
			b = &block{}
			h.open[k] = b
		}
		b.points = append(b.points, Point{T: e.Trend.T, Value: e.Trend.Value})
		h.points++
		e.Trend = nil
	}
	if e.NIBP != nil || e.Alarm != nil {
		h.pending = append(h.pending, e)
	}
	full := len(h.pending)+h.points >= h.opts.Queue/2
	h.mu.Unlock()
	if full {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// Dropped counts records dropped because the queue was full; Failed those
// whose commit failed.
func (h *History) Dropped() uint64 { return h.dropped.Load() }

// Failed counts records whose commit failed.
func (h *History) Failed() uint64 { return h.failed.Load() }

// Run commits queued records every CommitEvery and prunes what is older
// than Keep every hour, until ctx ends; then it commits what is left and
// closes the file.
func (h *History) Run(ctx context.Context) error {
	defer close(h.done)
	h.prune()
	tick := time.NewTicker(h.opts.CommitEvery)
	defer tick.Stop()
	lastPrune := h.opts.Now()
	for {
		select {
		case <-ctx.Done():
			h.flush(true)
			return h.db.Close()
		case <-tick.C:
		case <-h.wake:
		}
		h.Flush()
		if now := h.opts.Now(); now.Sub(lastPrune) >= pruneEvery {
			h.prune()
			lastPrune = now
		}
	}
}

// Done is closed when Run has returned (the file is closed).
func (h *History) Done() <-chan struct{} { return h.done }

// Close writes what is open and closes the file, when Run was never
// started (Run does both when its context ends).
func (h *History) Close() error {
	h.flush(true)
	return h.db.Close()
}

// blockKey names an open trend block: one chair, one parameter, one minute
// (unix milliseconds of its start).
type blockKey struct {
	chair, param string
	minute       int64
}

type block struct{ points []Point }

// closeAfter is how long after its minute ends a block is written: points
// of that minute still on their way get in.
const closeAfter = 5 * time.Second

// Flush commits the queued NIBP and alarm messages and the trend blocks
// whose minute is over.
func (h *History) Flush() { h.flush(false) }

// flush commits; all writes every open block too (at shutdown, and when the
// memory bound is reached).
func (h *History) flush(all bool) {
	cut := h.opts.Now().Add(-time.Minute - closeAfter).UnixMilli()
	h.mu.Lock()
	batch := h.pending
	h.pending = nil
	type closed struct {
		key []byte
		val []byte
		n   int
	}
	var blocks []closed
	if all || h.points >= h.opts.Queue/2 {
		all = true
	}
	for k, b := range h.open {
		if !all && k.minute > cut {
			continue
		}
		h.counter++
		blocks = append(blocks, closed{key: trendKey(k, h.counter), val: encodeBlock(k.minute, b.points), n: len(b.points)})
		h.points -= len(b.points)
		delete(h.open, k)
	}
	h.mu.Unlock()
	if len(batch) == 0 && len(blocks) == 0 {
		return
	}
	err := h.db.Update(func(tx *bolt.Tx) error {
		chairs := tx.Bucket(bucketChairs)
		for _, e := range batch {
			if err := put(chairs, e); err != nil {
				return err
			}
		}
		tb := tx.Bucket(bucketTrend)
		tb.FillPercent = 0.95 // keys come in ascending minutes: fill pages
		for _, b := range blocks {
			if err := tb.Put(b.key, b.val); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		n := len(batch)
		for _, b := range blocks {
			n += b.n
		}
		h.failed.Add(uint64(n))
		h.log.Error("history: commit failed; these records are lost from the trends and history", "records", n, "err", err)
	}
}

// trendKey is minute (8 bytes) | chair | 0 | param | 0 | counter (8 bytes):
// minute first, so each minute's blocks are written side by side.
func trendKey(k blockKey, counter uint64) []byte {
	key := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(k.chair)+len(k.param)+10), uint64(max(k.minute, 0)))
	key = append(key, k.chair...)
	key = append(key, 0)
	key = append(key, k.param...)
	key = append(key, 0)
	return binary.BigEndian.AppendUint64(key, counter)
}

// encodeBlock packs points: per point its offset in the minute (uint16
// milliseconds), 0 for null or 1 and the value (float64).
func encodeBlock(minute int64, pts []Point) []byte {
	out := make([]byte, 0, len(pts)*11)
	for _, p := range pts {
		out = binary.BigEndian.AppendUint16(out, uint16(p.T.UnixMilli()-minute))
		if !p.Value.Valid {
			out = append(out, 0)
			continue
		}
		out = append(out, 1)
		out = binary.BigEndian.AppendUint64(out, math.Float64bits(p.Value.V))
	}
	return out
}

// decodeBlock unpacks a block; a damaged one yields the points before the
// damage (never a guessed value).
func decodeBlock(minute int64, b []byte, out []Point) []Point {
	for len(b) >= 3 {
		t := time.UnixMilli(minute + int64(binary.BigEndian.Uint16(b))).UTC()
		switch b[2] {
		case 0:
			out = append(out, Point{T: t})
			b = b[3:]
		case 1:
			if len(b) < 11 {
				return out
			}
			out = append(out, Point{T: t, Value: wire.N(math.Float64frombits(binary.BigEndian.Uint64(b[3:])))})
			b = b[11:]
		default:
			return out
		}
	}
	return out
}

func chairBucket(chairs *bolt.Bucket, chair, kind []byte) (*bolt.Bucket, error) {
	c, err := chairs.CreateBucketIfNotExists(chair)
	if err != nil {
		return nil, err
	}
	return c.CreateBucketIfNotExists(kind)
}

// timeKey is the record time as 8 bytes, big-endian unix milliseconds, so
// bbolt's byte order is time order. Times before 1970 are clamped to 0.
func timeKey(t time.Time) []byte {
	k := make([]byte, 8, 40)
	binary.BigEndian.PutUint64(k, uint64(max(t.UnixMilli(), 0)))
	return k
}

func keyTime(k []byte) time.Time {
	return time.UnixMilli(int64(binary.BigEndian.Uint64(k[:8]))).UTC()
}

func num(n wire.Num) []byte {
	if !n.Valid {
		return []byte{}
	}
	return binary.BigEndian.AppendUint64(nil, math.Float64bits(n.V))
}

func readNum(b []byte) wire.Num {
	if len(b) != 8 {
		return wire.Num{}
	}
	return wire.N(math.Float64frombits(binary.BigEndian.Uint64(b)))
}

func put(chairs *bolt.Bucket, e station.Effect) error {
	id := []byte(e.Chair)
	if e.NIBP != nil {
		b, err := chairBucket(chairs, id, bucketNIBP)
		if err != nil {
			return err
		}
		n := e.NIBP
		v := bytes.Join([][]byte{num(n.Systolic), num(n.Diastolic), num(n.Mean)}, []byte{'|'})
		if err := b.Put(timeKey(n.T.Time), v); err != nil {
			return err
		}
	}
	if e.Alarm != nil {
		b, err := chairBucket(chairs, id, bucketAlarm)
		if err != nil {
			return err
		}
		a := e.Alarm
		k := timeKey(a.T.Time)
		if a.Stream != "" && a.Seq != 0 {
			k = fmt.Appendf(k, "%s:%d", a.Stream, a.Seq) // a redelivery keeps (stream, seq)
		} else {
			k = fmt.Appendf(k, "%s:%s:%s:%s", a.ID, a.Phase, a.State, a.Priority)
		}
		if err := b.Put(k, e.AlarmRaw); err != nil {
			return err
		}
	}
	return nil
}

// Point is one trend value: [t, value], value null where none.
type Point struct {
	T     time.Time
	Value wire.Num
}

// MarshalJSON writes ["2026-12-05T08:00:00.000Z",97].
func (p Point) MarshalJSON() ([]byte, error) {
	t, _ := wire.At(p.T).MarshalJSON()
	v, _ := p.Value.MarshalJSON()
	return fmt.Appendf(nil, "[%s,%s]", t, v), nil
}

// NIBPPoint is one cuff measurement: [t, systolic, diastolic, mean].
type NIBPPoint struct {
	T                         time.Time
	Systolic, Diastolic, Mean wire.Num
}

// MarshalJSON writes ["...",128,82,97].
func (p NIBPPoint) MarshalJSON() ([]byte, error) {
	t, _ := wire.At(p.T).MarshalJSON()
	return fmt.Appendf(nil, "[%s,%s,%s,%s]", t, p.Systolic, p.Diastolic, p.Mean), nil
}

// Trend is a chair's trend between two times.
type Trend struct {
	SpO2  []Point     `json:"spo2"`
	Pulse []Point     `json:"pulse"`
	NIBP  []NIBPPoint `json:"nibp"`
}

// each walks the keys of one chair's bucket kind in [from, to).
func (h *History) each(chair string, kind []byte, from, to time.Time, f func(k, v []byte) error) error {
	return h.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketChairs).Bucket([]byte(chair))
		if c == nil {
			return nil
		}
		b := c.Bucket(kind)
		if b == nil {
			return nil
		}
		end := timeKey(to)
		cur := b.Cursor()
		for k, v := cur.Seek(timeKey(from)); k != nil && bytes.Compare(k[:8], end) < 0; k, v = cur.Next() {
			if len(k) < 8 {
				continue
			}
			if err := f(k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Trend reads a chair's SpO2, pulse and NIBP with from <= t < to, in time
// order, from the file and the open minutes.
func (h *History) Trend(chair string, from, to time.Time) (Trend, error) {
	tr := Trend{SpO2: []Point{}, Pulse: []Point{}, NIBP: []NIBPPoint{}}
	first := from.Truncate(time.Minute)
	for _, p := range []struct {
		param string
		out   *[]Point
	}{{"spo2", &tr.SpO2}, {"pulse", &tr.Pulse}} {
		var pts []Point
		err := h.db.View(func(tx *bolt.Tx) error {
			cur := tx.Bucket(bucketTrend).Cursor()
			for m := first; m.Before(to); m = m.Add(time.Minute) {
				prefix := trendKey(blockKey{chair: chair, param: p.param, minute: m.UnixMilli()}, 0)
				prefix = prefix[:len(prefix)-8]
				for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
					pts = decodeBlock(m.UnixMilli(), v, pts)
				}
			}
			return nil
		})
		if err != nil {
			return Trend{}, fmt.Errorf("history: trend of %s: %w", chair, err)
		}
		h.mu.Lock()
		for k, b := range h.open {
			if k.chair == chair && k.param == p.param && k.minute >= first.UnixMilli() && k.minute < to.UnixMilli() {
				pts = append(pts, b.points...)
			}
		}
		h.mu.Unlock()
		*p.out = inWindow(pts, from, to)
	}
	err := h.each(chair, bucketNIBP, from, to, func(k, v []byte) error {
		parts := bytes.Split(v, []byte{'|'})
		if len(parts) != 3 {
			return nil // not written by this version: skipped, never guessed
		}
		tr.NIBP = append(tr.NIBP, NIBPPoint{T: keyTime(k), Systolic: readNum(parts[0]), Diastolic: readNum(parts[1]), Mean: readNum(parts[2])})
		return nil
	})
	if err != nil {
		return Trend{}, fmt.Errorf("history: NIBP of %s: %w", chair, err)
	}
	return tr, nil
}

// inWindow keeps the points in [from, to), sorted by time, one per
// millisecond (a redelivered point is the same point).
func inWindow(pts []Point, from, to time.Time) []Point {
	out := pts[:0]
	for _, p := range pts {
		if !p.T.Before(from) && p.T.Before(to) {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].T.Before(out[j].T) })
	dedup := out[:0]
	for i, p := range out {
		if i > 0 && p.T.Equal(dedup[len(dedup)-1].T) {
			dedup[len(dedup)-1] = p
			continue
		}
		dedup = append(dedup, p)
	}
	if dedup == nil {
		return []Point{}
	}
	return dedup
}

// Alarms reads every alarm message of a chair with t >= from, oldest first,
// as received.
func (h *History) Alarms(chair string, from time.Time) ([]json.RawMessage, error) {
	out := []json.RawMessage{}
	err := h.each(chair, bucketAlarm, from, time.UnixMilli(math.MaxInt64), func(_, v []byte) error {
		if json.Valid(v) {
			out = append(out, append(json.RawMessage(nil), v...))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history: alarms of %s: %w", chair, err)
	}
	return out, nil
}

// prune deletes what is older than Keep.
func (h *History) prune() {
	cut := timeKey(h.opts.Now().Add(-h.opts.Keep))
	var n int
	err := h.db.Update(func(tx *bolt.Tx) error {
		chairs := tx.Bucket(bucketChairs)
		var empty [][]byte
		err := chairs.ForEachBucket(func(chair []byte) error {
			c := chairs.Bucket(chair)
			left := 0
			err := c.ForEachBucket(func(kind []byte) error {
				b := c.Bucket(kind)
				cur := b.Cursor()
				for k, _ := cur.First(); k != nil && bytes.Compare(k[:min(8, len(k))], cut) < 0; k, _ = cur.First() {
					if err := cur.Delete(); err != nil {
						return err
					}
					n++
				}
				left += b.Stats().KeyN
				return nil
			})
			if left == 0 {
				empty = append(empty, append([]byte(nil), chair...))
			}
			return err
		})
		if err != nil {
			return err
		}
		for _, c := range empty {
			if err := chairs.DeleteBucket(c); err != nil {
				return err
			}
		}
		cur := tx.Bucket(bucketTrend).Cursor()
		for k, _ := cur.First(); k != nil && len(k) >= 8 && bytes.Compare(k[:8], cut) < 0; k, _ = cur.First() {
			if err := cur.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		h.log.Error("history: pruning failed", "err", err)
		return
	}
	if n > 0 {
		h.log.Info("history: pruned old records", "records", n, "keep", h.opts.Keep)
	}
}
