// Package pgtest runs a throwaway PostgreSQL cluster for tests: Debian's
// postgresql (15) binaries, initdb in a temporary folder, listening only on
// 127.0.0.1 at a free port, as a non-root user (PostgreSQL refuses to run
// as root: when the test runs as root the cluster runs as user postgres).
// Tests skip loudly without PostgreSQL, or fail when CHAIRSIDE_REQUIRE
// names postgres (as .ci/run sets).
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to create databases
)

// BinDirs are where Debian puts the server binaries, newest first.
var BinDirs = []string{"/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"}

func binDir() string {
	for _, d := range BinDirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

// required says whether CHAIRSIDE_REQUIRE names postgres.
func required() bool {
	for _, w := range strings.Split(os.Getenv("CHAIRSIDE_REQUIRE"), ",") {
		if strings.TrimSpace(w) == "postgres" {
			return true
		}
	}
	return false
}

// Cluster is a running server; Stop ends it and removes its files.
type Cluster struct {
	dir, bin string
	Port     int
	runAs    []string // runuser prefix, or nil
	next     atomic.Int64
	err      error // why it could not start
}

// Start starts a cluster for a test package (call it from TestMain and
// Stop it after m.Run). It never fails: a cluster that could not start
// makes NewDatabase skip (or fail under CHAIRSIDE_REQUIRE) with the reason.
func Start() *Cluster {
	c := &Cluster{bin: binDir()}
	if c.bin == "" {
		c.err = fmt.Errorf("PostgreSQL server binaries not found in %v (apt-get install postgresql)", BinDirs)
		return c
	}
	c.err = c.start()
	return c
}

func (c *Cluster) start() error {
	dir, err := os.MkdirTemp("", "chairside-pgtest-")
	if err != nil {
		return err
	}
	c.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root and there is no user postgres to run the server: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
		c.runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	data := filepath.Join(dir, "data")
	if out, err := c.run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C"); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, out)
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c max_connections=50", c.Port, dir)
	if out, err := c.run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		return fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, log)
	}
	return nil
}

func (c *Cluster) run(prog string, args ...string) ([]byte, error) {
	argv := append(append([]string{}, c.runAs...), append([]string{filepath.Join(c.bin, prog)}, args...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = os.TempDir()
	return cmd.CombinedOutput()
}

// Stop stops the server at once and removes its files.
func (c *Cluster) Stop() {
	if c.dir == "" {
		return
	}
	if c.err == nil {
		_, _ = c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop")
	}
	_ = os.RemoveAll(c.dir)
}

// URL is the server's address for database db (user postgres, no password).
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// NewDatabase creates an empty database for one test and returns its URL.
// Without a cluster it skips the test, or fails it under
// CHAIRSIDE_REQUIRE=postgres.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	if c == nil || c.err != nil {
		reason := "no cluster"
		if c != nil {
			reason = c.err.Error()
		}
		msg := "SKIPPED against real PostgreSQL: " + reason
		if required() {
			t.Fatal("CHAIRSIDE_REQUIRE=postgres but " + msg)
		}
		t.Skip(msg)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), c.next.Add(1))
	db, err := sql.Open("pgx", c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return c.URL(name)
}
