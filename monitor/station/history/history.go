// Package history keeps what the station has shown, so a restart of the
// station loses nothing a nurse saw: each chair's 1 Hz SpO2 and pulse
// trends, every NIBP, and every alarm message, for the configured keep
// period, in one bbolt file in store_dir.
//
// Writes are grouped: messages are queued without blocking the MQTT
// delivery and committed together every CommitEvery (one fsync for many
// records, sparing the disk). Records are keyed by their time (and an alarm
// also by its stream and seq), so a duplicate delivery overwrites itself.
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
	bucketSpO2   = []byte("spo2")
	bucketPulse  = []byte("pulse")
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
		_, err := tx.CreateBucketIfNotExists(bucketChairs)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("history: %s: %w", path, err)
	}
	return &History{db: db, opts: o, log: o.Logger, wake: make(chan struct{}, 1), done: make(chan struct{})}, nil
}

// Add queues what a message asks to store; it never blocks. Beyond the
// queue bound the record is dropped and counted (Dropped).
func (h *History) Add(e station.Effect) {
	if e.Trend == nil && e.NIBP == nil && e.Alarm == nil {
		return
	}
	h.mu.Lock()
	if len(h.pending) >= h.opts.Queue {
		h.mu.Unlock()
		h.dropped.Add(1)
		return
	}
	h.pending = append(h.pending, e)
	n := len(h.pending)
	h.mu.Unlock()
	if n >= 1000 {
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
			h.Flush()
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

// Close closes the file when Run was never started.
func (h *History) Close() error { return h.db.Close() }

// Flush commits what is queued now.
func (h *History) Flush() {
	h.mu.Lock()
	batch := h.pending
	h.pending = nil
	h.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := h.db.Update(func(tx *bolt.Tx) error {
		chairs := tx.Bucket(bucketChairs)
		for _, e := range batch {
			if err := put(chairs, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		h.failed.Add(uint64(len(batch)))
		h.log.Error("history: commit failed; these records are lost from the trends and history", "records", len(batch), "err", err)
	}
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
	if e.Trend != nil {
		kind := bucketSpO2
		if e.Trend.Param == "pulse" {
			kind = bucketPulse
		}
		b, err := chairBucket(chairs, id, kind)
		if err != nil {
			return err
		}
		if err := b.Put(timeKey(e.Trend.T), num(e.Trend.Value)); err != nil {
			return err
		}
	}
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

// Trend reads a chair's SpO2, pulse and NIBP with from <= t < to.
func (h *History) Trend(chair string, from, to time.Time) (Trend, error) {
	tr := Trend{SpO2: []Point{}, Pulse: []Point{}, NIBP: []NIBPPoint{}}
	for _, p := range []struct {
		kind []byte
		out  *[]Point
	}{{bucketSpO2, &tr.SpO2}, {bucketPulse, &tr.Pulse}} {
		err := h.each(chair, p.kind, from, to, func(k, v []byte) error {
			*p.out = append(*p.out, Point{T: keyTime(k), Value: readNum(v)})
			return nil
		})
		if err != nil {
			return Trend{}, fmt.Errorf("history: trend of %s: %w", chair, err)
		}
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
