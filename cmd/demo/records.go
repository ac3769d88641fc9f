package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/chairside/chairside/monitor/archive"
)

// records is the demo's recorder: bin/recorder archiving every chair's
// records in SQLite in <dir>/recorder, so a session can be exported after
// the demo (FHIR, HL7, CSV).
type records struct {
	bin, dir, config string
}

// recordsFolder is the demo folder's part kept after a demo in a temporary
// folder.
const recordsFolder = "recorder"

// startRecords starts the recorder before the chairs (so its broker
// session exists when they publish); without bin/recorder it says so and
// returns nil.
func startRecords(o options, dir, broker string, out io.Writer, exited chan<- string) (*exec.Cmd, *records, error) {
	bin := filepath.Join(o.bin, "recorder")
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(out, "no recorder in %s (make build puts it there): the records are not archived\n", o.bin)
		return nil, nil, nil
	}
	r := &records{bin: bin, dir: filepath.Join(dir, recordsFolder)}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return nil, nil, err
	}
	r.config = filepath.Join(r.dir, "recorder.toml")
	text := fmt.Sprintf("# Written by the demo: every chair's records in SQLite, beside this file.\nname = \"demo\"\ndatabase = \"sqlite:records.db\"\n[mqtt]\nbroker = %q\n", broker)
	if err := os.WriteFile(r.config, []byte(text), 0o600); err != nil {
		return nil, nil, err
	}
	cmd, err := start(r.dir, "recorder", exited, bin, "-config", r.config)
	if err != nil {
		return nil, nil, err
	}
	// The database exists once the recorder has opened it; the broker
	// connection follows at once on this machine.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(r.dir, "records.db")); err == nil {
			time.Sleep(300 * time.Millisecond)
			break
		}
	}
	return cmd, r, nil
}

// printExport says, once every part has stopped, what was archived and
// how to export each session.
func (r *records) printExport(out io.Writer) {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := archive.Open(ctx, "sqlite:"+filepath.Join(r.dir, "records.db"), "", false)
	if err != nil {
		fmt.Fprintf(out, "recorder: no archive: %v (its log: %s)\n", err, filepath.Join(r.dir, "recorder.log"))
		return
	}
	defer db.Close()
	rows, err := db.SQL().QueryContext(ctx, `SELECT session, chair, COUNT(*) FROM records WHERE session <> '' GROUP BY session, chair ORDER BY chair, session`)
	if err != nil {
		fmt.Fprintf(out, "recorder: %v\n", err)
		return
	}
	defer rows.Close()
	fmt.Fprintf(out, "\nrecords archived by the recorder in %s (kept):\n", filepath.Join(r.dir, "records.db"))
	var first, firstChair string
	for rows.Next() {
		var session, chair string
		var n int64
		if rows.Scan(&session, &chair, &n) != nil {
			break
		}
		if first == "" {
			first, firstChair = session, chair
		}
		fmt.Fprintf(out, "  %s  session %s  %d records\n", chair, session, n)
	}
	if first == "" {
		fmt.Fprintln(out, "  no session records")
		return
	}
	// -chair: chairs that start a session in the same second make the same
	// session id.
	fmt.Fprintf(out, "export a session (FHIR R4 Bundle; or -format hl7, csv):\n  %s export -config %s -session %s -chair %s -format fhir\n",
		r.bin, r.config, first, firstChair)
}

// removeExcept removes the temporary demo folder but keep (a part of it
// by name; "" removes all).
func removeExcept(dir, keep string) {
	if keep == "" {
		_ = os.RemoveAll(dir)
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != keep {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}
