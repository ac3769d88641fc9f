package station

import (
	"slices"
	"time"
)

// maxHoles bounds the holes remembered per stream. A chair that jumps its
// seq wildly cannot grow the station's memory: past the bound the two
// newest holes are merged, counting the seqs between them as missing too
// (an over-count, never an under-count).
const maxHoles = 256

// seqTracker follows one (chair, stream)'s seq numbers and remembers the
// holes: seqs above the first one seen that have not arrived. Arrival order
// is not seq order (after an outage the live messages go first and the
// backlog follows), so a hole is only counted missing once it has stayed
// unfilled for the hole timeout.
type seqTracker struct {
	started bool
	max     uint64
	holes   []hole // sorted by from, disjoint
}

type hole struct {
	from, to uint64 // inclusive
	noticed  time.Time
}

// see records seq. live is false for a retained copy (an old message the
// broker kept): it may fill a hole but never opens one.
func (s *seqTracker) see(seq uint64, live bool, now time.Time) {
	if seq == 0 {
		return // sent while the chair's store failed: not numbered
	}
	if !s.started {
		if live {
			s.started, s.max = true, seq
		}
		return
	}
	if seq > s.max {
		if !live {
			return
		}
		if seq > s.max+1 {
			s.holes = append(s.holes, hole{from: s.max + 1, to: seq - 1, noticed: now})
			if len(s.holes) > maxHoles {
				n := len(s.holes)
				s.holes[n-2].to = s.holes[n-1].to
				s.holes = s.holes[:n-1]
			}
		}
		s.max = seq
		return
	}
	i, found := slices.BinarySearchFunc(s.holes, seq, func(h hole, seq uint64) int {
		switch {
		case h.to < seq:
			return -1
		case h.from > seq:
			return 1
		}
		return 0
	})
	if !found {
		return // a duplicate, or older than the first seq seen
	}
	h := s.holes[i]
	switch {
	case h.from == h.to:
		s.holes = slices.Delete(s.holes, i, i+1)
	case seq == h.from:
		s.holes[i].from++
	case seq == h.to:
		s.holes[i].to--
	default:
		s.holes[i].to = seq - 1
		s.holes = slices.Insert(s.holes, i+1, hole{from: seq + 1, to: h.to, noticed: h.noticed})
		if len(s.holes) > maxHoles {
			n := len(s.holes)
			s.holes[n-2].to = s.holes[n-1].to
			s.holes = s.holes[:n-1]
		}
	}
}

// overdue counts the seqs of holes noticed at least timeout before now.
func (s *seqTracker) overdue(now time.Time, timeout time.Duration) uint64 {
	var n uint64
	for _, h := range s.holes {
		if now.Sub(h.noticed) >= timeout {
			n += h.to - h.from + 1
		}
	}
	return n
}

// nextDue is when the oldest hole not yet overdue becomes so; zero if none.
func (s *seqTracker) nextDue(now time.Time, timeout time.Duration) time.Time {
	var next time.Time
	for _, h := range s.holes {
		if at := h.noticed.Add(timeout); at.After(now) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}
