package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Record is one record-stream message as stored: its key, the columns the
// queries need, and the payload exactly as received.
type Record struct {
	Chair       string
	Stream      string
	Seq         int64
	Kind        string    // topic below the chair: vitals/spo2, alarm, session, ...
	T           time.Time // the record's t; zero when it carried none
	Session     string    // the session the record belongs to; "" for none
	Boot        int64
	ClockSynced bool
	Payload     []byte // valid UTF-8 JSON
}

// State is one state message of a chair (its availability).
type State struct {
	Chair   string
	Online  bool
	Boot    int64
	Stream  string
	Version string
	T       time.Time // zero for a Will
	Will    bool      // session and phase unknown
	Session string
	Phase   string
	Payload []byte
}

// Reject is a message stored aside: malformed, oversized, or on a topic the
// recorder does not know.
type Reject struct {
	Topic   string
	Reason  string
	Size    int    // the whole payload's length
	Payload []byte // its head (the caller cuts it)
}

// Batch is what one transaction writes, in arrival order.
type Batch struct {
	Records []Record
	States  []State
	Rejects []Reject
	// Ignored counts messages on known live topics the archive does not keep
	// (pleth, alarms, cmd, cmd/reply).
	Ignored int
}

// Len is the number of messages in the batch.
func (b *Batch) Len() int { return len(b.Records) + len(b.States) + len(b.Rejects) + b.Ignored }

// Result says what a batch did.
type Result struct {
	Inserted   int // new records
	Duplicates int // identical copies of stored records, dropped
	Conflicts  int // different payloads under a stored key, kept aside (new ones only)
	States     int
	Rejected   int
	// HL7 forwarding (with DB.Forward): NIBP messages queued, and those
	// that could not be built (queued as failed, with the reason).
	Queued, Unbuildable int
}

// Counter names in the counters table.
const (
	CounterDuplicates = "duplicates"
	CounterConflicts  = "conflicts"
	CounterRejected   = "rejected"
	CounterIgnored    = "ignored"
)

// insertChunk is how many records one INSERT statement carries (10
// parameters each, well under both databases' limits).
const insertChunk = 200

// Write stores a batch in one transaction, at time now. On error nothing of
// the batch is stored and the caller may try again.
func (a *DB) Write(ctx context.Context, b Batch, now time.Time) (res Result, err error) {
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return Result{}, fmt.Errorf("archive: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	nowMS := now.UnixMilli()
	stored, err := a.writeRecords(ctx, tx, b.Records, nowMS, &res)
	if err != nil {
		return Result{}, err
	}
	if a.Forward != nil {
		if err := a.queueForwarding(ctx, tx, stored, nowMS, &res); err != nil {
			return Result{}, err
		}
	}
	for _, s := range b.States {
		if err := a.writeState(ctx, tx, s, nowMS); err != nil {
			return Result{}, err
		}
		res.States++
	}
	if err := a.writeRejects(ctx, tx, b.Rejects, nowMS); err != nil {
		return Result{}, err
	}
	res.Rejected = len(b.Rejects)
	for _, c := range []struct {
		name string
		n    int
	}{{CounterDuplicates, res.Duplicates}, {CounterConflicts, res.Conflicts}, {CounterRejected, res.Rejected}, {CounterIgnored, b.Ignored}} {
		if c.n == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, a.d.bind(`INSERT INTO counters (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value`), c.name, c.n); err != nil {
			return Result{}, fmt.Errorf("archive: counter %s: %w", c.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return Result{}, fmt.Errorf("archive: commit: %w", err)
	}
	return res, nil
}

type key struct {
	chair, stream string
	seq           int64
}

// writeRecords inserts the records and returns those that went in (new
// keys), in batch order.
func (a *DB) writeRecords(ctx context.Context, tx *sql.Tx, recs []Record, nowMS int64, res *Result) ([]Record, error) {
	// The first copy of a key in the batch is the candidate; later copies
	// are compared with it, like copies that come in a later batch.
	first := make(map[key]int, len(recs))
	var candidates []int
	var later []int
	for i, r := range recs {
		k := key{r.Chair, r.Stream, r.Seq}
		if _, seen := first[k]; seen {
			later = append(later, i)
			continue
		}
		first[k] = i
		candidates = append(candidates, i)
	}
	inserted := make(map[key]bool, len(candidates))
	for start := 0; start < len(candidates); start += insertChunk {
		chunk := candidates[start:min(start+insertChunk, len(candidates))]
		if err := a.insertChunk(ctx, tx, recs, chunk, nowMS, inserted); err != nil {
			return nil, err
		}
	}
	res.Inserted += len(inserted)
	// Every copy that did not go in is a duplicate or a conflict.
	for _, i := range append(notInserted(recs, candidates, inserted), later...) {
		if err := a.compare(ctx, tx, recs[i], nowMS, res); err != nil {
			return nil, err
		}
	}
	stored := make([]Record, 0, len(inserted))
	for _, i := range candidates {
		r := recs[i]
		if inserted[key{r.Chair, r.Stream, r.Seq}] {
			stored = append(stored, r)
		}
	}
	return stored, nil
}

func notInserted(recs []Record, idx []int, inserted map[key]bool) []int {
	var out []int
	for _, i := range idx {
		r := recs[i]
		if !inserted[key{r.Chair, r.Stream, r.Seq}] {
			out = append(out, i)
		}
	}
	return out
}

func (a *DB) insertStmt(rows int) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if q, ok := a.inserts[rows]; ok {
		return q
	}
	var b strings.Builder
	b.WriteString("INSERT INTO records (chair, stream, seq, kind, t_ms, session, boot, clock_synced, received_ms, payload) VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?)")
	}
	b.WriteString(" ON CONFLICT DO NOTHING RETURNING chair, stream, seq")
	q := a.d.bind(b.String())
	a.inserts[rows] = q
	return q
}

func (a *DB) insertChunk(ctx context.Context, tx *sql.Tx, recs []Record, chunk []int, nowMS int64, inserted map[key]bool) error {
	args := make([]any, 0, len(chunk)*10)
	for _, i := range chunk {
		r := recs[i]
		args = append(args, r.Chair, r.Stream, r.Seq, r.Kind, nullMS(r.T), r.Session, r.Boot, boolInt(r.ClockSynced), nowMS, string(r.Payload))
	}
	rows, err := tx.QueryContext(ctx, a.insertStmt(len(chunk)), args...)
	if err != nil {
		return fmt.Errorf("archive: insert records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.chair, &k.stream, &k.seq); err != nil {
			return fmt.Errorf("archive: insert records: %w", err)
		}
		inserted[k] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("archive: insert records: %w", err)
	}
	return nil
}

// compare decides whether a record whose key is taken is a duplicate or a
// conflict, and keeps a new conflict aside.
func (a *DB) compare(ctx context.Context, tx *sql.Tx, r Record, nowMS int64, res *Result) error {
	var stored string
	err := tx.QueryRowContext(ctx, a.d.bind("SELECT payload FROM records WHERE chair = ? AND stream = ? AND seq = ?"),
		r.Chair, r.Stream, r.Seq).Scan(&stored)
	if err != nil {
		return fmt.Errorf("archive: read %s/%s/%d: %w", r.Chair, r.Stream, r.Seq, err)
	}
	if bytes.Equal([]byte(stored), r.Payload) {
		res.Duplicates++
		return nil
	}
	sum := sha256.Sum256(r.Payload)
	out, err := tx.ExecContext(ctx, a.d.bind(`INSERT INTO conflicts (chair, stream, seq, kind, received_ms, digest, payload)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		r.Chair, r.Stream, r.Seq, r.Kind, nowMS, hex.EncodeToString(sum[:]), string(r.Payload))
	if err != nil {
		return fmt.Errorf("archive: keep conflict %s/%s/%d: %w", r.Chair, r.Stream, r.Seq, err)
	}
	if n, _ := out.RowsAffected(); n == 1 {
		res.Conflicts++
	} else {
		res.Duplicates++ // the same conflicting copy again
	}
	return nil
}

func (a *DB) writeState(ctx context.Context, tx *sql.Tx, s State, nowMS int64) error {
	var online int
	var boot int64
	err := tx.QueryRowContext(ctx, a.d.bind("SELECT online, boot FROM chairs WHERE chair = ?"), s.Chair).Scan(&online, &boot)
	switch {
	case err == sql.ErrNoRows, err == nil && (online != boolInt(s.Online) || boot != s.Boot):
		if _, err := tx.ExecContext(ctx, a.d.bind("INSERT INTO availability (chair, online, boot, t_ms, received_ms) VALUES (?, ?, ?, ?, ?)"),
			s.Chair, boolInt(s.Online), s.Boot, nullMS(s.T), nowMS); err != nil {
			return fmt.Errorf("archive: availability of %s: %w", s.Chair, err)
		}
	case err != nil:
		return fmt.Errorf("archive: state of %s: %w", s.Chair, err)
	}
	var session, phase any
	if !s.Will {
		session, phase = s.Session, s.Phase
	}
	_, err = tx.ExecContext(ctx, a.d.bind(`INSERT INTO chairs (chair, online, boot, stream, version, t_ms, session, phase, received_ms, payload)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (chair) DO UPDATE SET online = excluded.online, boot = excluded.boot, stream = excluded.stream,
			version = excluded.version, t_ms = excluded.t_ms, session = excluded.session, phase = excluded.phase,
			received_ms = excluded.received_ms, payload = excluded.payload`),
		s.Chair, boolInt(s.Online), s.Boot, s.Stream, s.Version, nullMS(s.T), session, phase, nowMS, string(s.Payload))
	if err != nil {
		return fmt.Errorf("archive: state of %s: %w", s.Chair, err)
	}
	return nil
}

func (a *DB) writeRejects(ctx context.Context, tx *sql.Tx, rs []Reject, nowMS int64) error {
	if len(rs) == 0 {
		return nil
	}
	for _, r := range rs {
		if _, err := tx.ExecContext(ctx, a.d.bind("INSERT INTO rejected (received_ms, topic, reason, size, payload) VALUES (?, ?, ?, ?, ?)"),
			nowMS, r.Topic, r.Reason, r.Size, r.Payload); err != nil {
			return fmt.Errorf("archive: keep rejected message from %q: %w", r.Topic, err)
		}
	}
	keep := a.RejectedKeep
	if keep <= 0 {
		keep = DefaultRejectedKeep
	}
	if _, err := tx.ExecContext(ctx, a.d.bind("DELETE FROM rejected WHERE id <= (SELECT MAX(id) FROM rejected) - ?"), keep); err != nil {
		return fmt.Errorf("archive: prune rejected: %w", err)
	}
	return nil
}

func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
