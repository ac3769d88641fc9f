package archive

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Hole is a run of missing seq numbers in one (chair, stream), between the
// lowest and highest seq stored.
type Hole struct {
	Chair, Stream string
	From, To      int64     // missing, inclusive
	Since         time.Time // when the record after the hole was stored: the hole is known since then
}

// Holes lists every hole, by chair, stream and seq. It works while a
// recorder writes (a reader in SQLite's WAL mode, or PostgreSQL).
func (a *DB) Holes(ctx context.Context) ([]Hole, error) {
	rows, err := a.db.QueryContext(ctx, `
		SELECT chair, stream, prev + 1, seq - 1, received_ms FROM (
			SELECT chair, stream, seq, received_ms,
				LAG(seq) OVER (PARTITION BY chair, stream ORDER BY seq) AS prev
			FROM records) w
		WHERE prev IS NOT NULL AND seq > prev + 1
		ORDER BY chair, stream, seq`)
	if err != nil {
		return nil, fmt.Errorf("archive: holes: %w", err)
	}
	defer rows.Close()
	var out []Hole
	for rows.Next() {
		var h Hole
		var ms int64
		if err := rows.Scan(&h.Chair, &h.Stream, &h.From, &h.To, &ms); err != nil {
			return nil, fmt.Errorf("archive: holes: %w", err)
		}
		h.Since = time.UnixMilli(ms).UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}

// StoredRecord is a record as read back.
type StoredRecord struct {
	Record
	Received time.Time
}

// GapRecords lists the gap records the chairs sent (records they dropped
// themselves), oldest first.
func (a *DB) GapRecords(ctx context.Context) ([]StoredRecord, error) {
	return a.records(ctx, "WHERE kind = ? ORDER BY chair, stream, seq", "gap")
}

// SessionRecords lists a session's records by t, then chair, stream, seq.
func (a *DB) SessionRecords(ctx context.Context, session string) ([]StoredRecord, error) {
	return a.records(ctx, "WHERE session = ? ORDER BY t_ms, chair, stream, seq", session)
}

// AllRecords lists every record by chair, stream and seq (tests, small archives).
func (a *DB) AllRecords(ctx context.Context) ([]StoredRecord, error) {
	return a.records(ctx, "ORDER BY chair, stream, seq")
}

func (a *DB) records(ctx context.Context, where string, args ...any) ([]StoredRecord, error) {
	rows, err := a.db.QueryContext(ctx, a.d.bind(`SELECT chair, stream, seq, kind, t_ms, session, boot, clock_synced, received_ms, payload
		FROM records `+where), args...)
	if err != nil {
		return nil, fmt.Errorf("archive: read records: %w", err)
	}
	return scanRecords(rows)
}

// scanRecords reads the columns records selects, and closes rows.
func scanRecords(rows *sql.Rows) ([]StoredRecord, error) {
	defer rows.Close()
	var out []StoredRecord
	for rows.Next() {
		var r StoredRecord
		var t sql.NullInt64
		var synced int
		var recv int64
		var payload string
		if err := rows.Scan(&r.Chair, &r.Stream, &r.Seq, &r.Kind, &t, &r.Session, &r.Boot, &synced, &recv, &payload); err != nil {
			return nil, fmt.Errorf("archive: read records: %w", err)
		}
		if t.Valid {
			r.T = time.UnixMilli(t.Int64).UTC()
		}
		r.ClockSynced = synced != 0
		r.Received = time.UnixMilli(recv).UTC()
		r.Payload = []byte(payload)
		out = append(out, r)
	}
	return out, rows.Err()
}

// KindCount is how many records of one kind are stored and when the last
// one was.
type KindCount struct {
	Kind         string
	Count        int64
	LastReceived time.Time
}

// ChairStatus is a chair's availability and its records.
type ChairStatus struct {
	Chair        string
	Online       bool
	Boot         int64
	Session      string // "" when none or unknown
	Phase        string // "" when unknown (after a Will)
	StateAt      time.Time
	Records      int64
	LastReceived time.Time // zero when no record
}

// RejectedRow is a stored rejected message.
type RejectedRow struct {
	Received time.Time
	Topic    string
	Reason   string
	Size     int64
}

// Status is what `recorder status` shows.
type Status struct {
	Kinds        []KindCount
	Records      int64
	LastReceived time.Time // zero when empty
	Counters     map[string]int64
	Conflicts    int64 // stored conflicting copies
	RejectedKept int64 // rejected rows still stored
	LastRejected []RejectedRow
	Chairs       []ChairStatus
	Outbox       map[string]int64 // hl7_outbox rows by status
}

// Status reads the counts. lastRejected bounds the rejected rows listed.
func (a *DB) Status(ctx context.Context, lastRejected int) (*Status, error) {
	s := &Status{Counters: map[string]int64{}, Outbox: map[string]int64{}}
	rows, err := a.db.QueryContext(ctx, "SELECT kind, COUNT(*), MAX(received_ms) FROM records GROUP BY kind ORDER BY kind")
	if err != nil {
		return nil, fmt.Errorf("archive: status: %w", err)
	}
	var last int64
	for rows.Next() {
		var k KindCount
		var ms int64
		if err := rows.Scan(&k.Kind, &k.Count, &ms); err != nil {
			rows.Close()
			return nil, fmt.Errorf("archive: status: %w", err)
		}
		k.LastReceived = time.UnixMilli(ms).UTC()
		s.Kinds = append(s.Kinds, k)
		s.Records += k.Count
		last = max(last, ms)
	}
	rows.Close()
	if last > 0 {
		s.LastReceived = time.UnixMilli(last).UTC()
	}
	if err := a.scanPairs(ctx, "SELECT name, value FROM counters", s.Counters); err != nil {
		return nil, err
	}
	if err := a.scanPairs(ctx, "SELECT status, COUNT(*) FROM hl7_outbox GROUP BY status", s.Outbox); err != nil {
		return nil, err
	}
	if err := a.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM conflicts").Scan(&s.Conflicts); err != nil {
		return nil, fmt.Errorf("archive: status: %w", err)
	}
	if err := a.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM rejected").Scan(&s.RejectedKept); err != nil {
		return nil, fmt.Errorf("archive: status: %w", err)
	}
	rrows, err := a.db.QueryContext(ctx, a.d.bind("SELECT received_ms, topic, reason, size FROM rejected ORDER BY id DESC LIMIT ?"), lastRejected)
	if err != nil {
		return nil, fmt.Errorf("archive: status: %w", err)
	}
	for rrows.Next() {
		var r RejectedRow
		var ms int64
		if err := rrows.Scan(&ms, &r.Topic, &r.Reason, &r.Size); err != nil {
			rrows.Close()
			return nil, fmt.Errorf("archive: status: %w", err)
		}
		r.Received = time.UnixMilli(ms).UTC()
		s.LastRejected = append(s.LastRejected, r)
	}
	rrows.Close()
	crows, err := a.db.QueryContext(ctx, `
		SELECT c.chair, c.online, c.boot, c.session, c.phase, c.received_ms,
			(SELECT COUNT(*) FROM records r WHERE r.chair = c.chair),
			(SELECT MAX(received_ms) FROM records r WHERE r.chair = c.chair)
		FROM chairs c ORDER BY c.chair`)
	if err != nil {
		return nil, fmt.Errorf("archive: status: %w", err)
	}
	defer crows.Close()
	for crows.Next() {
		var c ChairStatus
		var online int
		var session, phase sql.NullString
		var stateMS int64
		var lastMS sql.NullInt64
		if err := crows.Scan(&c.Chair, &online, &c.Boot, &session, &phase, &stateMS, &c.Records, &lastMS); err != nil {
			return nil, fmt.Errorf("archive: status: %w", err)
		}
		c.Online, c.Session, c.Phase = online != 0, session.String, phase.String
		c.StateAt = time.UnixMilli(stateMS).UTC()
		if lastMS.Valid {
			c.LastReceived = time.UnixMilli(lastMS.Int64).UTC()
		}
		s.Chairs = append(s.Chairs, c)
	}
	return s, crows.Err()
}

func (a *DB) scanPairs(ctx context.Context, q string, into map[string]int64) error {
	rows, err := a.db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("archive: status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var v int64
		if err := rows.Scan(&k, &v); err != nil {
			return fmt.Errorf("archive: status: %w", err)
		}
		into[k] = v
	}
	return rows.Err()
}

// Conflict is a stored conflicting copy.
type Conflict struct {
	Chair, Stream string
	Seq           int64
	Kind          string
	Payload       []byte
}

// Conflicts lists the conflicting copies kept aside.
func (a *DB) Conflicts(ctx context.Context) ([]Conflict, error) {
	rows, err := a.db.QueryContext(ctx, "SELECT chair, stream, seq, kind, payload FROM conflicts ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("archive: conflicts: %w", err)
	}
	defer rows.Close()
	var out []Conflict
	for rows.Next() {
		var c Conflict
		var p string
		if err := rows.Scan(&c.Chair, &c.Stream, &c.Seq, &c.Kind, &p); err != nil {
			return nil, fmt.Errorf("archive: conflicts: %w", err)
		}
		c.Payload = []byte(p)
		out = append(out, c)
	}
	return out, rows.Err()
}
