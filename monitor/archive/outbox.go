package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The HL7 forwarding queue (hl7_outbox) and the minutes waiting to be
// forwarded (hl7_minutes). The archive knows no HL7: it stores what the
// Forwarding callbacks build, and hands the sender one message at a time.
//
// Every message is queued from the database, never from memory only: an
// NIBP's in the transaction that stores the record, a minute's in one
// transaction that marks the minute queued, so a crash at any point neither
// loses a message nor queues one twice (the control id is unique).

// Kinds of the records forwarded.
const (
	KindSpO2  = "vitals/spo2"
	KindPulse = "vitals/pulse"
	KindNIBP  = "vitals/nibp"
	// KindSession is the session record (its encounter goes into PV1-19).
	KindSession = "session"
)

// Outbox statuses.
const (
	OutboxPending = "pending"
	OutboxSent    = "sent"
	OutboxRefused = "refused"
	OutboxFailed  = "failed"
)

// Outgoing is one message to queue: its control id (unique in the outbox)
// and its bytes, or Err when it could not be built (it is then queued as
// failed, with the reason, and never sent).
type Outgoing struct {
	ControlID string
	Message   []byte
	// Due orders the sending: an NIBP's time, a minute's end (ties by
	// control id), as hl7.SessionMessages orders a session.
	Due time.Time
	Err error
}

// Forwarding builds the HL7 messages of stored records.
type Forwarding struct {
	// NIBP builds the message of a newly stored vitals/nibp record;
	// session is the payload of the session's latest session record (nil
	// when none is stored yet).
	NIBP func(r Record, session []byte) Outgoing
}

// queueForwarding runs inside Write's transaction: each new NIBP record's
// message goes into the outbox, and each new SpO2 or pulse record counts
// towards its minute in hl7_minutes.
func (a *DB) queueForwarding(ctx context.Context, tx *sql.Tx, stored []Record, nowMS int64, res *Result) error {
	type mkey struct {
		chair, session string
		minute         int64
	}
	type macc struct {
		stream   string
		firstSeq int64
		records  int64
	}
	minutes := map[mkey]*macc{}
	var order []mkey
	for _, r := range stored {
		switch r.Kind {
		case KindNIBP:
			if a.Forward.NIBP == nil {
				continue
			}
			sess, err := sessionPayload(ctx, tx, a.d, r.Chair, r.Session)
			if err != nil {
				return err
			}
			out := a.Forward.NIBP(r, sess)
			queued, err := a.enqueue(ctx, tx, r.Chair, r.Session, out, nowMS)
			if err != nil {
				return err
			}
			if queued && out.Err != nil {
				res.Unbuildable++
			} else if queued {
				res.Queued++
			}
		case KindSpO2, KindPulse:
			if r.Session == "" || r.T.IsZero() {
				continue // no minute to put it in (hl7.Minutes leaves it out too)
			}
			k := mkey{r.Chair, r.Session, r.T.UTC().Truncate(time.Minute).UnixMilli()}
			m := minutes[k]
			if m == nil {
				m = &macc{stream: r.Stream, firstSeq: r.Seq}
				minutes[k] = m
				order = append(order, k)
			}
			if r.Stream == m.stream && r.Seq < m.firstSeq {
				m.firstSeq = r.Seq
			}
			m.records++
		}
	}
	if len(order) == 0 {
		return nil
	}
	// One statement per chunk of minutes (the keys are distinct: a batch's
	// records were summed per minute above).
	for start := 0; start < len(order); start += minuteChunk {
		chunk := order[start:min(start+minuteChunk, len(order))]
		var q strings.Builder
		q.WriteString(`INSERT INTO hl7_minutes (chair, session, minute_ms, stream, first_seq, last_ms, records, late, queued) VALUES `)
		args := make([]any, 0, 7*len(chunk))
		for i, k := range chunk {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, 0, 0)")
			m := minutes[k]
			args = append(args, k.chair, k.session, k.minute, m.stream, m.firstSeq, nowMS, m.records)
		}
		q.WriteString(` ON CONFLICT (chair, session, minute_ms) DO UPDATE SET
			first_seq = CASE WHEN excluded.stream = hl7_minutes.stream AND excluded.first_seq < hl7_minutes.first_seq
				THEN excluded.first_seq ELSE hl7_minutes.first_seq END,
			last_ms = excluded.last_ms,
			records = hl7_minutes.records + excluded.records,
			late = hl7_minutes.late + hl7_minutes.queued * excluded.records`)
		if _, err := tx.ExecContext(ctx, a.d.bind(q.String()), args...); err != nil {
			return fmt.Errorf("archive: count records into their minutes: %w", err)
		}
	}
	return nil
}

// minuteChunk is how many minutes one upsert carries (7 parameters each).
const minuteChunk = 200

// sessionPayload is the payload of a chair's session's latest session
// record, or nil. (A session id is unique per chair only: chairs starting
// in the same second make the same id.)
func sessionPayload(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, d dialect, chair, session string) ([]byte, error) {
	if session == "" {
		return nil, nil
	}
	var p string
	// kind = 'session' written out: the partial index records_session_records
	// serves only a query that says so.
	err := q.QueryRowContext(ctx, d.bind(`SELECT payload FROM records WHERE kind = 'session' AND session = ? AND chair = ?
		ORDER BY t_ms DESC, seq DESC LIMIT 1`), session, chair).Scan(&p)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("archive: session record of %s: %w", session, err)
	}
	return []byte(p), nil
}

// enqueue inserts one outbox row; a control id already queued is left as
// it is (queued false).
func (a *DB) enqueue(ctx context.Context, tx *sql.Tx, chair, session string, out Outgoing, nowMS int64) (bool, error) {
	if out.ControlID == "" {
		return false, fmt.Errorf("archive: a message of %s without a control id", chair)
	}
	status, reason, msg := OutboxPending, any(nil), string(out.Message)
	if out.Err != nil {
		status, reason, msg = OutboxFailed, clip(out.Err.Error(), 2000), ""
	}
	due := nowMS
	if !out.Due.IsZero() {
		due = out.Due.UnixMilli()
	}
	r, err := tx.ExecContext(ctx, a.d.bind(`INSERT INTO hl7_outbox (chair, session, source, created_ms, message, status, reason, attempts, due_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?) ON CONFLICT (source) DO NOTHING`),
		chair, session, out.ControlID, nowMS, msg, status, reason, due)
	if err != nil {
		return false, fmt.Errorf("archive: queue %s: %w", out.ControlID, err)
	}
	n, _ := r.RowsAffected()
	return n == 1, nil
}

// clip bounds a text kept in the outbox to n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// Minute is a chair's session minute waiting to be forwarded.
type Minute struct {
	Chair, Session string
	Start          time.Time // UTC
	Stream         string
	FirstSeq       int64
	LastStored     time.Time
	// Why is how it was found complete: "followed" (a later record of its
	// stream is stored with no seq missing from the minute's first record
	// up to it) or "quiet" (no record of it stored for the timeout).
	Why string
}

// DueMinutes lists the minutes to forward now, oldest first. A minute is
// complete when
//   - followed: its stream has a stored record timed at or after the
//     minute's end, and no seq is missing from the last record timed
//     before the minute (or the stream's first stored record) up to that
//     one: every record of the minute is stored (a stream's seq goes +1 a
//     record, in time order);
//   - or quiet: no record of the minute has been stored for quiet (the
//     session ended, or records were lost for good), and the chair is
//     settled: online for ChairSettle, its last state message (a heartbeat)
//     no older than that, so no backlog of the chair's is still on its way.
//
// A minute is checked for a follower only once a later minute of its
// session has records: a session's last minute waits for the quiet time.
//
// A chair's session's minutes go in order: one that is not complete holds
// back the later ones. At most limit are returned (0: all).
func (a *DB) DueMinutes(ctx context.Context, now time.Time, quiet time.Duration, limit int) ([]Minute, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT chair, session, minute_ms, stream, first_seq, last_ms
		FROM hl7_minutes WHERE queued = 0 ORDER BY minute_ms, chair, session`)
	if err != nil {
		return nil, fmt.Errorf("archive: open minutes: %w", err)
	}
	var open []Minute
	for rows.Next() {
		var m Minute
		var start, last int64
		if err := rows.Scan(&m.Chair, &m.Session, &start, &m.Stream, &m.FirstSeq, &last); err != nil {
			rows.Close()
			return nil, fmt.Errorf("archive: open minutes: %w", err)
		}
		m.Start, m.LastStored = time.UnixMilli(start).UTC(), time.UnixMilli(last).UTC()
		open = append(open, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("archive: open minutes: %w", err)
	}
	// Only a minute with a later one of its session open can be followed
	// by a record of the session: the others wait for the quiet time, and
	// need no query (a second's pass with 500 chairs checks a few).
	latest := map[[2]string]time.Time{}
	for _, m := range open {
		latest[[2]string{m.Chair, m.Session}] = m.Start // open is in minute order
	}
	held := map[[2]string]bool{}
	var due []Minute
	for _, m := range open {
		k := [2]string{m.Chair, m.Session}
		if held[k] {
			continue
		}
		followed := false
		if latest[k].After(m.Start) {
			var err error
			if followed, err = a.followed(ctx, m); err != nil {
				return nil, err
			}
		}
		switch {
		case followed:
			m.Why = "followed"
		case !now.Before(m.LastStored.Add(quiet)):
			settled, err := a.chairSettled(ctx, m.Chair, now)
			if err != nil {
				return nil, err
			}
			if !settled {
				held[k] = true
				continue
			}
			m.Why = "quiet"
		default:
			held[k] = true
			continue
		}
		due = append(due, m)
		if len(due) == limit {
			break // the rest at the next pass
		}
	}
	return due, nil
}

// ChairSettle is how long a chair must have been online, and how recent
// its last state message must be, before its minute can go by the quiet
// time: a chair's store replays its backlog right after it reconnects, so
// a chair that was away (or a recorder cut off from the broker) may still
// have records of the minute.
const ChairSettle = 30 * time.Second

// chairSettled reports whether the chair is online, has been for
// ChairSettle, and sent a state message (its heartbeat, every 10 s) within
// ChairSettle; or has sent no state message (an offline one included) for
// ChairGone. A chair whose state was never stored is taken as settled.
func (a *DB) chairSettled(ctx context.Context, chair string, now time.Time) (bool, error) {
	var online int
	var stateMS int64
	var sinceMS sql.NullInt64
	err := a.db.QueryRowContext(ctx, a.d.bind(`SELECT c.online, c.received_ms,
			(SELECT MAX(v.received_ms) FROM availability v WHERE v.chair = c.chair)
		FROM chairs c WHERE c.chair = ?`), chair).Scan(&online, &stateMS, &sinceMS)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("archive: state of %s: %w", chair, err)
	}
	nowMS, settle := now.UnixMilli(), ChairSettle.Milliseconds()
	if online == 1 && nowMS-stateMS <= settle && (!sinceMS.Valid || nowMS-sinceMS.Int64 >= settle) {
		return true, nil
	}
	// Offline or silent for ChairGone: switched off, or cut off for long;
	// its minutes go (records that come later are counted late).
	return nowMS-stateMS >= ChairGone.Milliseconds(), nil
}

// ChairGone is how long a chair offline (or silent) holds its minutes.
const ChairGone = time.Hour

// followed reports whether every record of the minute is provably stored
// (DueMinutes).
func (a *DB) followed(ctx context.Context, m Minute) (bool, error) {
	end := m.Start.Add(time.Minute).UnixMilli()
	var next int64
	err := a.db.QueryRowContext(ctx, a.d.bind(`SELECT seq FROM records WHERE chair = ? AND stream = ? AND seq > ? AND t_ms >= ?
		ORDER BY seq LIMIT 1`), m.Chair, m.Stream, m.FirstSeq, end).Scan(&next)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("archive: minute %s/%s: %w", m.Chair, m.Session, err)
	}
	var n int64
	if err := a.db.QueryRowContext(ctx, a.d.bind(`SELECT COUNT(*) FROM records WHERE chair = ? AND stream = ? AND seq >= ? AND seq <= ?`),
		m.Chair, m.Stream, m.FirstSeq, next).Scan(&n); err != nil {
		return false, fmt.Errorf("archive: minute %s/%s: %w", m.Chair, m.Session, err)
	}
	if n != next-m.FirstSeq+1 {
		return false, nil // a hole: records of the minute may still come
	}
	// Before the minute's first record seen: no hole back to the last
	// record timed before the minute (or to the stream's first stored
	// record), so no record of the minute is still to come from there.
	var from sql.NullInt64
	if err := a.db.QueryRowContext(ctx, a.d.bind(`SELECT seq FROM records WHERE chair = ? AND stream = ? AND seq < ? AND t_ms < ?
		ORDER BY seq DESC LIMIT 1`), m.Chair, m.Stream, m.FirstSeq, m.Start.UnixMilli()).Scan(&from); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("archive: minute %s/%s: %w", m.Chair, m.Session, err)
	}
	if !from.Valid {
		if err := a.db.QueryRowContext(ctx, a.d.bind(`SELECT MIN(seq) FROM records WHERE chair = ? AND stream = ?`),
			m.Chair, m.Stream).Scan(&from); err != nil {
			return false, fmt.Errorf("archive: minute %s/%s: %w", m.Chair, m.Session, err)
		}
	}
	if !from.Valid || from.Int64 >= m.FirstSeq {
		return true, nil
	}
	var before int64
	if err := a.db.QueryRowContext(ctx, a.d.bind(`SELECT COUNT(*) FROM records WHERE chair = ? AND stream = ? AND seq >= ? AND seq < ?`),
		m.Chair, m.Stream, from.Int64, m.FirstSeq).Scan(&before); err != nil {
		return false, fmt.Errorf("archive: minute %s/%s: %w", m.Chair, m.Session, err)
	}
	return before == m.FirstSeq-from.Int64, nil
}

// QueueMinutes queues minutes' messages in one transaction: for each, it
// marks the minute queued (only one recorder of a share group gets to),
// reads its SpO2 and pulse records and the session's record, builds the
// message with build and puts it in the outbox. It returns what was queued
// (a minute another recorder had queued is left out).
func (a *DB) QueueMinutes(ctx context.Context, ms []Minute, now time.Time,
	build func(m Minute, records []StoredRecord, session []byte) Outgoing) ([]Outgoing, error) {
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("archive: begin: %w", err)
	}
	defer tx.Rollback()
	var queued []Outgoing
	for _, m := range ms {
		start := m.Start.UnixMilli()
		r, err := tx.ExecContext(ctx, a.d.bind(`UPDATE hl7_minutes SET queued = 1 WHERE chair = ? AND session = ? AND minute_ms = ? AND queued = 0`),
			m.Chair, m.Session, start)
		if err != nil {
			return nil, fmt.Errorf("archive: queue minute: %w", err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			continue
		}
		rows, err := tx.QueryContext(ctx, a.d.bind(`SELECT chair, stream, seq, kind, t_ms, session, boot, clock_synced, received_ms, payload
			FROM records WHERE session = ? AND t_ms >= ? AND t_ms < ? AND chair = ? AND kind IN (?, ?)
			ORDER BY t_ms, stream, seq`), m.Session, start, start+time.Minute.Milliseconds(), m.Chair, KindSpO2, KindPulse)
		if err != nil {
			return nil, fmt.Errorf("archive: records of minute: %w", err)
		}
		recs, err := scanRecords(rows)
		if err != nil {
			return nil, err
		}
		sess, err := sessionPayload(ctx, tx, a.d, m.Chair, m.Session)
		if err != nil {
			return nil, err
		}
		out := build(m, recs, sess)
		ok, err := a.enqueue(ctx, tx, m.Chair, m.Session, out, now.UnixMilli())
		if err != nil {
			return nil, err
		}
		if ok {
			queued = append(queued, out)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("archive: queue minutes: commit: %w", err)
	}
	return queued, nil
}

// OutboxMessage is a claimed message, ready to send.
type OutboxMessage struct {
	ID        int64
	Chair     string
	ControlID string
	Message   []byte
	Attempts  int // failed attempts so far
}

// Claim takes the first pending message (by due time, then control id)
// for holder (the recorder's name) until leaseUntil, when its back-off has
// passed and no other recorder holds a live claim on it. Messages go in
// that order and one at a time across every recorder on the database: when
// the first is waiting or is held by another, Claim returns nil. A message
// whose chair's session has a minute that ended before it and is not
// queued yet (an NIBP stored while the minute before it is still being
// proven complete, as in a backlog) is passed over until that minute is
// queued, so each chair's messages go in time order. A claim of holder's
// own (left by a recorder killed while sending) is taken again at once.
// On PostgreSQL two recorders claiming together get the row once: the
// second UPDATE waits for the first's row lock and then finds the claim
// taken.
func (a *DB) Claim(ctx context.Context, holder string, now, leaseUntil time.Time) (*OutboxMessage, error) {
	nowMS := now.UnixMilli()
	var m OutboxMessage
	var msg string
	err := a.db.QueryRowContext(ctx, a.d.bind(`UPDATE hl7_outbox SET claim = ?, claim_until_ms = ?
		WHERE id = (SELECT id FROM hl7_outbox o WHERE status = ?
				AND NOT EXISTS (SELECT 1 FROM hl7_minutes m WHERE m.chair = o.chair AND m.session = o.session
					AND m.queued = 0 AND m.minute_ms + 60000 <= o.due_ms)
				ORDER BY due_ms, source LIMIT 1)
			AND status = ?
			AND (claim IS NULL OR claim = ? OR claim_until_ms < ?)
			AND (next_attempt_ms IS NULL OR next_attempt_ms <= ?)
		RETURNING id, chair, source, message, attempts`),
		holder, leaseUntil.UnixMilli(), OutboxPending, OutboxPending, holder, nowMS, nowMS).
		Scan(&m.ID, &m.Chair, &m.ControlID, &msg, &m.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("archive: claim the next HL7 message: %w", err)
	}
	m.Message = []byte(msg)
	return &m, nil
}

// Done records the receiver's decision on a claimed message: status sent
// or refused, the ack code and the reason. It reports false when holder no
// longer held the claim (it had expired and another recorder took it).
func (a *DB) Done(ctx context.Context, id int64, holder, status, ackCode, reason string, now time.Time) (bool, error) {
	r, err := a.db.ExecContext(ctx, a.d.bind(`UPDATE hl7_outbox SET status = ?, ack_code = ?, reason = ?, attempts = attempts + 1,
		last_attempt_ms = ?, done_ms = ?, next_attempt_ms = NULL, claim = NULL, claim_until_ms = NULL
		WHERE id = ? AND claim = ?`), status, ackCode, nullText(clip(reason, 2000)), now.UnixMilli(), now.UnixMilli(), id, holder)
	if err != nil {
		return false, fmt.Errorf("archive: mark HL7 message %d %s: %w", id, status, err)
	}
	n, _ := r.RowsAffected()
	return n == 1, nil
}

// Retry records a failed attempt (no usable answer): the error, and when
// to try again. The claim is released.
func (a *DB) Retry(ctx context.Context, id int64, holder, errText string, now, next time.Time) (bool, error) {
	r, err := a.db.ExecContext(ctx, a.d.bind(`UPDATE hl7_outbox SET attempts = attempts + 1, last_attempt_ms = ?, last_error = ?,
		next_attempt_ms = ?, claim = NULL, claim_until_ms = NULL
		WHERE id = ? AND claim = ? AND status = ?`), now.UnixMilli(), clip(errText, 2000), next.UnixMilli(), id, holder, OutboxPending)
	if err != nil {
		return false, fmt.Errorf("archive: mark HL7 message %d for retry: %w", id, err)
	}
	n, _ := r.RowsAffected()
	return n == 1, nil
}

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// OutboxRow is one outbox row as `recorder status` shows it.
type OutboxRow struct {
	ID          int64
	Chair       string
	Session     string
	ControlID   string
	Created     time.Time
	Status      string
	AckCode     string
	Reason      string
	Attempts    int
	LastAttempt time.Time // zero: never tried
	Done        time.Time
	NextAttempt time.Time // zero: now
	LastError   string
	Claim       string
	ClaimUntil  time.Time
}

// HL7Status is the HL7 forwarding state.
type HL7Status struct {
	ByStatus map[string]int64
	// Head is the oldest pending message (the next to go), nil when none.
	Head *OutboxRow
	// Refused are the newest refused and failed messages, with reasons.
	Refused []OutboxRow
	// LastSent is the newest sent message, nil when none.
	LastSent *OutboxRow
	// OpenMinutes are minutes not yet complete; LateRecords the records
	// stored after their minute's message was queued.
	OpenMinutes, LateRecords int64
}

const outboxColumns = `id, chair, session, source, created_ms, status, ack_code, reason, attempts,
	last_attempt_ms, done_ms, next_attempt_ms, last_error, claim, claim_until_ms`

// HL7Status reads the forwarding state; lastRefused bounds the refused
// rows listed.
func (a *DB) HL7Status(ctx context.Context, lastRefused int) (*HL7Status, error) {
	s := &HL7Status{ByStatus: map[string]int64{}}
	if err := a.scanPairs(ctx, "SELECT status, COUNT(*) FROM hl7_outbox GROUP BY status", s.ByStatus); err != nil {
		return nil, err
	}
	head, err := a.outboxRows(ctx, "WHERE status = ? ORDER BY due_ms, source LIMIT 1", OutboxPending)
	if err != nil {
		return nil, err
	}
	if len(head) > 0 {
		s.Head = &head[0]
	}
	last, err := a.outboxRows(ctx, "WHERE status = ? ORDER BY done_ms DESC, id DESC LIMIT 1", OutboxSent)
	if err != nil {
		return nil, err
	}
	if len(last) > 0 {
		s.LastSent = &last[0]
	}
	if s.Refused, err = a.outboxRows(ctx, "WHERE status IN (?, ?) ORDER BY id DESC LIMIT ?", OutboxRefused, OutboxFailed, lastRefused); err != nil {
		return nil, err
	}
	if err := a.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(1 - queued), 0), COALESCE(SUM(late), 0) FROM hl7_minutes`).
		Scan(&s.OpenMinutes, &s.LateRecords); err != nil {
		return nil, fmt.Errorf("archive: forwarding status: %w", err)
	}
	return s, nil
}

// Outbox lists every outbox row in sending order (tests, small archives).
func (a *DB) Outbox(ctx context.Context) ([]OutboxRow, error) {
	return a.outboxRows(ctx, "ORDER BY due_ms, source")
}

// OutboxMessageText is a stored message's bytes (tests, tools).
func (a *DB) OutboxMessageText(ctx context.Context, controlID string) ([]byte, error) {
	var s string
	if err := a.db.QueryRowContext(ctx, a.d.bind("SELECT message FROM hl7_outbox WHERE source = ?"), controlID).Scan(&s); err != nil {
		return nil, fmt.Errorf("archive: message %s: %w", controlID, err)
	}
	return []byte(s), nil
}

func (a *DB) outboxRows(ctx context.Context, where string, args ...any) ([]OutboxRow, error) {
	rows, err := a.db.QueryContext(ctx, a.d.bind("SELECT "+outboxColumns+" FROM hl7_outbox "+where), args...)
	if err != nil {
		return nil, fmt.Errorf("archive: read outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxRow
	for rows.Next() {
		var o OutboxRow
		var created int64
		var ack, reason, lastErr, claim sql.NullString
		var last, done, next, until sql.NullInt64
		if err := rows.Scan(&o.ID, &o.Chair, &o.Session, &o.ControlID, &created, &o.Status, &ack, &reason, &o.Attempts,
			&last, &done, &next, &lastErr, &claim, &until); err != nil {
			return nil, fmt.Errorf("archive: read outbox: %w", err)
		}
		o.Created = time.UnixMilli(created).UTC()
		o.AckCode, o.Reason, o.LastError, o.Claim = ack.String, reason.String, lastErr.String, claim.String
		o.LastAttempt, o.Done, o.NextAttempt, o.ClaimUntil = msTime(last), msTime(done), msTime(next), msTime(until)
		out = append(out, o)
	}
	return out, rows.Err()
}

func msTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}
