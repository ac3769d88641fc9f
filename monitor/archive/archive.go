// Package archive is the recorder's database (CONTRACT §7): every
// record-stream message once, keyed (chair, stream, seq), the conflicting
// copies and rejected messages kept aside, the chairs' availability, and room
// the HL7 forwarding queue. One schema and one set of queries serve the
// embedded SQLite (modernc.org/sqlite, pure Go) and PostgreSQL (pgx through
// database/sql); the few differences are in dialect.
//
// A batch is written in one transaction: the records go in with INSERT ...
// ON CONFLICT DO NOTHING, and every record that did not go in is compared
// with the stored one: the same bytes are a duplicate (counted and dropped),
// other bytes a conflict (kept in conflicts, once, and counted). The caller
// acknowledges the batch's messages to the broker only after Write returns
// nil, so a crash at any point loses nothing: the broker delivers again and
// the key makes the second copy a counted duplicate.
package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DB is an open archive.
type DB struct {
	db *sql.DB
	d  dialect
	// inserts caches the text of multi-row inserts by row count.
	mu      sync.Mutex
	inserts map[int]string
	// RejectedKeep bounds the rejected table (the oldest rows go first);
	// the rejected counter keeps counting. Default 10 000.
	RejectedKeep int
	// Forward, when set, makes Write queue the HL7 forwarding of the
	// records it stores, in the same transaction (outbox.go).
	Forward *Forwarding
}

// DefaultRejectedKeep is how many rejected messages are kept by default.
const DefaultRejectedKeep = 10000

// Kind is how the database was named: "sqlite" or "postgres".
func (a *DB) Kind() string { return a.d.name }

// SQL is the database handle, for tests and tools.
func (a *DB) SQL() *sql.DB { return a.db }

// Close closes the database.
func (a *DB) Close() error { return a.db.Close() }

// Open opens the database named by dsn ("sqlite:/path/records.db" or
// "postgres://user@host:5432/db"), with password (for PostgreSQL; read by
// the caller from its password_file, never logged). With create false a
// SQLite file that does not exist is an error rather than a new empty
// archive (the read-only subcommands). Open does not change the schema:
// Migrate does.
func Open(ctx context.Context, dsn, password string, create bool) (*DB, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"), create)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, password)
	}
	return nil, fmt.Errorf("archive: database %q: give sqlite:/path/file.db or postgres://user@host:5432/db", dsn)
}

// CheckDSN says what is wrong with a database name, without opening it.
func CheckDSN(dsn string) error {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		p := strings.TrimPrefix(dsn, "sqlite:")
		if p == "" || strings.ContainsAny(p, "?#") {
			return fmt.Errorf("%q: give sqlite:/path/file.db, a plain file path without ? or #", dsn)
		}
		return nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		c, err := pgx.ParseConfig(dsn)
		if err != nil {
			return fmt.Errorf("%q: %v", redactDSN(dsn), err)
		}
		if c.Password != "" {
			return fmt.Errorf("%q holds a password: put it in password_file instead", redactDSN(dsn))
		}
		return nil
	}
	return fmt.Errorf("%q: give sqlite:/path/file.db or postgres://user@host:5432/db", redactDSN(dsn))
}

// redactDSN hides a password written in a DSN, for messages.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 {
				return dsn[:i+3] + rest[:c] + ":***" + rest[at:]
			}
		}
	}
	return dsn
}

func openSQLite(ctx context.Context, path string, create bool) (*DB, error) {
	if path == "" {
		return nil, errors.New("archive: sqlite: empty path")
	}
	if !create {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("archive: no archive at %s: %w", path, err)
		}
	}
	// WAL: readers (recorder status, gaps, export in another process) never
	// block the writer. synchronous(FULL): a commit is on disk before the
	// broker is told, so a power cut loses no acknowledged message.
	// _txlock=immediate: a transaction takes the write lock at BEGIN, so a
	// second writer (another recorder on the same file) waits out
	// busy_timeout instead of failing when a read turns into a write.
	q := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(on)&_txlock=immediate"
	db, err := sql.Open("sqlite", q)
	if err != nil {
		return nil, fmt.Errorf("archive: open sqlite %s: %w", path, err)
	}
	// One connection: SQLite has one writer, and one connection keeps the
	// recorder from waiting on itself.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("archive: open sqlite %s: %w", path, err)
	}
	return newDB(db, sqliteDialect), nil
}

func openPostgres(ctx context.Context, dsn, password string) (*DB, error) {
	c, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("archive: postgres %s: %w", redactDSN(dsn), err)
	}
	if password != "" {
		c.Password = password
	}
	db := stdlib.OpenDB(*c)
	db.SetMaxOpenConns(4)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("archive: postgres %s: %w", redactDSN(dsn), err)
	}
	return newDB(db, postgresDialect), nil
}

func newDB(db *sql.DB, d dialect) *DB {
	return &DB{db: db, d: d, inserts: map[int]string{}, RejectedKeep: DefaultRejectedKeep}
}

// SchemaVersion is the schema Migrate makes.
const SchemaVersion = 2

// Migrate creates the tables that are missing. It is safe to run at every
// start and from several recorders at once on PostgreSQL (IF NOT EXISTS).
func (a *DB) Migrate(ctx context.Context) error {
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("archive: create schema: %w", err)
	}
	defer tx.Rollback()
	if a.d.lockStmt != "" {
		if _, err := tx.ExecContext(ctx, a.d.lockStmt); err != nil {
			return fmt.Errorf("archive: create schema: lock: %w", err)
		}
	}
	schema := a.d.schema()
	// schema_version first: an older database is upgraded before the
	// statements that may need its new columns (indexes).
	if _, err := tx.ExecContext(ctx, schema[0]); err != nil {
		return fmt.Errorf("archive: create schema: %w", err)
	}
	var n, v int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(MAX(version), 0) FROM schema_version").Scan(&n, &v); err != nil {
		return fmt.Errorf("archive: schema version: %w", err)
	}
	if v > SchemaVersion {
		return fmt.Errorf("archive: the database has schema %d, newer than this recorder's %d: upgrade the recorder", v, SchemaVersion)
	}
	if n > 0 {
		for from := v; from < SchemaVersion; from++ {
			for _, stmt := range upgrades[from] {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("archive: upgrade schema %d to %d: %w (in %.60s...)", from, from+1, err, stmt)
				}
			}
		}
	}
	for _, stmt := range schema[1:] {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("archive: create schema: %w (in %.60s...)", err, stmt)
		}
	}
	switch {
	case n == 0:
		if _, err := tx.ExecContext(ctx, a.d.bind("INSERT INTO schema_version (version) VALUES (?)"), SchemaVersion); err != nil {
			return fmt.Errorf("archive: schema version: %w", err)
		}
	case v < SchemaVersion:
		if _, err := tx.ExecContext(ctx, a.d.bind("UPDATE schema_version SET version = ?"), SchemaVersion); err != nil {
			return fmt.Errorf("archive: schema version: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("archive: create schema: %w", err)
	}
	return nil
}

// Ready checks that the schema exists (for the read-only subcommands).
func (a *DB) Ready(ctx context.Context) error {
	var v int
	if err := a.db.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_version").Scan(&v); err != nil {
		return fmt.Errorf("archive: not a recorder archive (has the recorder run on it?): %w", err)
	}
	return nil
}
