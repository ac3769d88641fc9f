package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/chairside/chairside/monitor/wire"
)

// Reasons of the gap records the store writes (CONTRACT §4).
const (
	// ReasonFull: vitals from_seq..to_seq were dropped to stay under
	// MaxBytes.
	ReasonFull = "store_full"
	// ReasonCorrupt: the records from_seq..to_seq failed their CRC or JSON
	// check and were deleted, so every hole the store leaves is explained.
	ReasonCorrupt = "store_corrupt"
)

// trim drops the oldest droppable vitals until the outbox is 10 % under
// MaxBytes (so a full store writes one gap record per trim, not one per
// record), then writes a gap record naming the seqs dropped. Records of other
// classes are stepped over, never dropped; corrupt ones found on the way go
// too, reported.
func (s *Store) trim(outbox *bolt.Bucket, res *result) error {
	target := s.opts.MaxBytes - s.opts.MaxBytes/10
	var drop [][]byte
	var bad []uint64 // corrupt records' seqs, for their gap
	var from, to uint64
	var topic string
	c := outbox.Cursor()
	for k, v := c.First(); k != nil && res.bytes > target; k, v = c.Next() {
		r, cls, err := decodeHeader(k, v)
		switch {
		case err != nil:
			res.faults = append(res.faults, &CorruptError{File: s.path, What: fmt.Sprintf("outbox key %x", k), Err: err})
			res.corrupt++
			if seq := seqOf(k); seq != 0 {
				bad = append(bad, seq)
			}
		case cls == classDroppable:
			if from == 0 {
				from, topic = r.Seq, r.Topic
			}
			to = r.Seq
			res.dropped++
		default:
			continue
		}
		drop = append(drop, slices.Clone(k))
		res.bytes -= int64(len(k) + len(v))
		res.records--
	}
	for _, k := range drop {
		if err := outbox.Delete(k); err != nil {
			return err
		}
	}
	if err := s.putGaps(outbox, bad, ReasonCorrupt, res); err != nil {
		return err
	}
	if to == 0 {
		return nil
	}
	s.mu.Lock()
	root, synced := s.root, s.synced
	s.mu.Unlock()
	if root == "" {
		root = rootOf(topic)
	}
	seq := res.last + 1
	gapTopic, payload, err := s.gapRecord(seq, from, to, ReasonFull, synced, root, s.opts.Now())
	if err != nil {
		return err
	}
	if err := res.putRecord(outbox, seq, classKept, gapTopic, payload); err != nil {
		return err
	}
	res.last = seq
	res.gaps++
	s.log.Warn("store full: dropped the oldest vitals", "from_seq", from, "to_seq", to, "dropped", res.dropped, "gap_seq", seq)
	return nil
}

// putGaps writes a gap record with reason for each run of consecutive seqs
// (deleted corrupt records), with the seqs after res.last.
func (s *Store) putGaps(outbox *bolt.Bucket, seqs []uint64, reason string, res *result) error {
	if len(seqs) == 0 {
		return nil
	}
	seqs = slices.Clone(seqs)
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	s.mu.Lock()
	root, synced := s.root, s.synced
	s.mu.Unlock()
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		seq := res.last + 1
		topic, payload, err := s.gapRecord(seq, seqs[i], seqs[j], reason, synced, root, s.opts.Now())
		if err != nil {
			return err
		}
		if err := res.putRecord(outbox, seq, classKept, topic, payload); err != nil {
			return err
		}
		res.last = seq
		res.gaps++
		s.log.Warn("gap record written", "reason", reason, "from_seq", seqs[i], "to_seq", seqs[j], "gap_seq", seq)
		i = j + 1
	}
	return nil
}

// gapRecord builds the topic and payload of the gap from..to, with seq.
func (s *Store) gapRecord(seq, from, to uint64, reason string, synced bool, root string, now time.Time) (string, []byte, error) {
	g := &wire.Gap{T: wire.At(now), FromSeq: from, ToSeq: to, Reason: reason}
	g.SetRecord(wire.Record{V: wire.Version, Stream: s.stream, Seq: seq, Boot: s.boot, ClockSynced: synced})
	payload, err := json.Marshal(g)
	if err != nil {
		return "", nil, fmt.Errorf("encode gap: %w", err)
	}
	topic := "gap"
	if root != "" {
		topic = root + "/gap"
	}
	return topic, payload, nil
}
