package archive

import (
	"strconv"
	"strings"
)

// dialect is all that differs between SQLite and PostgreSQL: the type of an
// auto-numbered key, of raw bytes, and the placeholder syntax. Everything
// else (ON CONFLICT, RETURNING, window functions) is written once.
type dialect struct {
	name     string
	serial   string // an auto-numbered primary key column
	blob     string // raw bytes
	dollar   bool   // placeholders $1, $2 instead of ?
	lockStmt string // taken at the start of a migration, "" for none
}

var (
	sqliteDialect   = dialect{name: "sqlite", serial: "INTEGER PRIMARY KEY AUTOINCREMENT", blob: "BLOB"}
	postgresDialect = dialect{name: "postgres", serial: "BIGSERIAL PRIMARY KEY", blob: "BYTEA", dollar: true,
		// Two recorders starting together must not race on CREATE TABLE.
		lockStmt: "SELECT pg_advisory_xact_lock(4242011)"}
)

// bind rewrites ? placeholders to $n for PostgreSQL. The queries here hold
// no ? inside string literals.
func (d dialect) bind(q string) string {
	if !d.dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// schema is the one schema. Times are Unix milliseconds (BIGINT) in both
// databases, so the queries that compare them are the same; booleans are
// 0/1 integers. Payloads are the exact bytes received, as text (they are
// checked to be valid UTF-8 JSON first); rejected payloads, which may be
// anything, as raw bytes.
func (d dialect) schema() []string {
	r := strings.NewReplacer("{{serial}}", d.serial, "{{blob}}", d.blob)
	out := make([]string, 0, len(schemaStatements))
	for _, s := range schemaStatements {
		out = append(out, r.Replace(s))
	}
	return out
}

var schemaStatements = []string{
	`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`,

	// Every record-stream message once. kind is the topic below the chair
	// (vitals/spo2, vitals/pulse, vitals/nibp, alarm, session,
	// session/summary, gap); session is the session id the record belongs
	// to ("" when none); t_ms is the record's t (NULL when the chair sent
	// none); received_ms is when this recorder committed it.
	`CREATE TABLE IF NOT EXISTS records (
		chair        TEXT    NOT NULL,
		stream       TEXT    NOT NULL,
		seq          BIGINT  NOT NULL,
		kind         TEXT    NOT NULL,
		t_ms         BIGINT,
		session      TEXT    NOT NULL,
		boot         BIGINT  NOT NULL,
		clock_synced INTEGER NOT NULL,
		received_ms  BIGINT  NOT NULL,
		payload      TEXT    NOT NULL,
		PRIMARY KEY (chair, stream, seq)
	)`,
	`CREATE INDEX IF NOT EXISTS records_by_session ON records (session, t_ms)`,
	`CREATE INDEX IF NOT EXISTS records_by_received ON records (received_ms)`,
	// The session records (a handful a session), for the encounter an HL7
	// message carries: without it, finding one scans the session's records.
	`CREATE INDEX IF NOT EXISTS records_session_records ON records (session, chair, t_ms) WHERE kind = 'session'`,

	// A message whose key is taken by a different payload, once per
	// distinct payload (digest is its SHA-256).
	`CREATE TABLE IF NOT EXISTS conflicts (
		id          {{serial}},
		chair       TEXT   NOT NULL,
		stream      TEXT   NOT NULL,
		seq         BIGINT NOT NULL,
		kind        TEXT   NOT NULL,
		received_ms BIGINT NOT NULL,
		digest      TEXT   NOT NULL,
		payload     TEXT   NOT NULL,
		UNIQUE (chair, stream, seq, digest)
	)`,

	// Malformed, oversized and unknown messages, bounded (DB.RejectedKeep);
	// payload is the head of what came (at most rejectedHead bytes), size the
	// whole length.
	`CREATE TABLE IF NOT EXISTS rejected (
		id          {{serial}},
		received_ms BIGINT NOT NULL,
		topic       TEXT   NOT NULL,
		reason      TEXT   NOT NULL,
		size        BIGINT NOT NULL,
		payload     {{blob}} NOT NULL
	)`,

	// Each chair's last state message (availability now) ...
	`CREATE TABLE IF NOT EXISTS chairs (
		chair        TEXT    PRIMARY KEY,
		online       INTEGER NOT NULL,
		boot         BIGINT  NOT NULL,
		stream       TEXT    NOT NULL,
		version      TEXT    NOT NULL,
		t_ms         BIGINT,
		session      TEXT,
		phase        TEXT,
		received_ms  BIGINT  NOT NULL,
		payload      TEXT    NOT NULL
	)`,
	// ... and its history: one row each time online or boot changed.
	`CREATE TABLE IF NOT EXISTS availability (
		id          {{serial}},
		chair       TEXT    NOT NULL,
		online      INTEGER NOT NULL,
		boot        BIGINT  NOT NULL,
		t_ms        BIGINT,
		received_ms BIGINT  NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS availability_by_chair ON availability (chair, id)`,

	// Running counts that outlive the rows they count (duplicates are not
	// stored, rejected rows are pruned).
	`CREATE TABLE IF NOT EXISTS counters (
		name  TEXT   PRIMARY KEY,
		value BIGINT NOT NULL
	)`,

	// HL7 v2 forwarding: one ORU^R01 per row, queued in the transaction
	// that stored its records (an NIBP) or once its minute is complete
	// (SpO2 and pulse medians); sent one at a time in order of due_ms (an
	// NIBP's time, a minute's end) and source until the receiver answers AA. status: pending, sent (AA/CA), refused (AE/AR/CE/CR, with the
	// reason), failed (the message could not be built; reason says why).
	// source is the message's control id. claim and claim_until_ms are the
	// lease of the recorder sending it (one sender at a time, also in a
	// share group); next_attempt_ms is the back-off after a failed attempt.
	`CREATE TABLE IF NOT EXISTS hl7_outbox (
		id              {{serial}},
		chair           TEXT    NOT NULL,
		session         TEXT    NOT NULL,
		source          TEXT    NOT NULL,
		created_ms      BIGINT  NOT NULL,
		message         TEXT    NOT NULL,
		status          TEXT    NOT NULL,
		ack_code        TEXT,
		reason          TEXT,
		attempts        INTEGER NOT NULL,
		last_attempt_ms BIGINT,
		done_ms         BIGINT,
		next_attempt_ms BIGINT,
		last_error      TEXT,
		claim           TEXT,
		claim_until_ms  BIGINT,
		due_ms          BIGINT  NOT NULL DEFAULT 0,
		UNIQUE (source)
	)`,
	`CREATE INDEX IF NOT EXISTS hl7_outbox_by_status ON hl7_outbox (status, id)`,
	`CREATE INDEX IF NOT EXISTS hl7_outbox_by_due ON hl7_outbox (status, due_ms, source)`,

	// The minutes of SpO2 and pulse records waiting to be forwarded: one
	// row per chair, session and UTC minute (minute_ms its start), made by
	// the transaction that stored the minute's first record. stream and
	// first_seq are the stream and lowest seq of its records, last_ms when
	// its last record was stored (the recorder's clock), records how many
	// were stored. queued turns 1 when its message goes into hl7_outbox;
	// late counts records of the minute stored after that (archived and
	// exported, not in the message already sent under its control id).
	`CREATE TABLE IF NOT EXISTS hl7_minutes (
		chair     TEXT    NOT NULL,
		session   TEXT    NOT NULL,
		minute_ms BIGINT  NOT NULL,
		stream    TEXT    NOT NULL,
		first_seq BIGINT  NOT NULL,
		last_ms   BIGINT  NOT NULL,
		records   BIGINT  NOT NULL,
		late      BIGINT  NOT NULL,
		queued    INTEGER NOT NULL,
		PRIMARY KEY (chair, session, minute_ms)
	)`,
	`CREATE INDEX IF NOT EXISTS hl7_minutes_open ON hl7_minutes (queued, minute_ms)`,
}

// upgrades[v] takes a database from schema v to v+1 (before
// schemaStatements make what is missing).
var upgrades = map[int][]string{
	// 1 to 2: the HL7 sender's back-off, last error and lease.
	1: {
		`ALTER TABLE hl7_outbox ADD COLUMN next_attempt_ms BIGINT`,
		`ALTER TABLE hl7_outbox ADD COLUMN last_error TEXT`,
		`ALTER TABLE hl7_outbox ADD COLUMN claim TEXT`,
		`ALTER TABLE hl7_outbox ADD COLUMN claim_until_ms BIGINT`,
		`ALTER TABLE hl7_outbox ADD COLUMN due_ms BIGINT NOT NULL DEFAULT 0`,
	},
}
