package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/chairside/chairside/monitor/alarmlog"
	"github.com/chairside/chairside/monitor/config"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/wire"
)

// printAlarmLog prints the alarm log, oldest first: a header, then one line
// per entry (text) or one JSON object per line (asJSON); the format is in
// README.md ("Alarm log"). It reads the alarm log file without a lock, so it
// works while the daemon runs. A store that has no alarm log file yet (an
// older version wrote it, and no daemon has run since) is read from its
// audit bucket instead, which needs the daemon stopped.
//
// Every text field is escaped (logText), so an entry holding a newline or an
// escape sequence (a store written before commands were checked for them)
// can neither forge a line nor drive the terminal. Lines of the file that
// are torn or corrupt are reported on stderr (and, in text, as a comment
// where they were) and skipped.
func printAlarmLog(cfg *config.Config, out, stderr io.Writer, asJSON bool) error {
	dir := cfg.Store.Dir
	source := alarmlog.FileName
	if !alarmlog.Exists(dir) {
		source = store.FileName + " (audit entries of an older version; no alarm log file yet)"
	}
	var werr error
	put := func(format string, args ...any) {
		if werr == nil {
			_, werr = fmt.Fprintf(out, format, args...)
		}
	}
	if asJSON {
		h, _ := json.Marshal(map[string]any{"kind": "header", "format": alarmlog.Format, "chair": cfg.Chair, "store": dir, "source": source})
		put("%s\n", h)
	} else {
		put("# chairside alarm log: chair %s, store %s, source %s, format %d\n", logText(cfg.Chair), logText(dir), logText(source), alarmlog.Format)
		put("# time\tkind\twho\twhat\tstatus\tdetail\n")
	}
	show := func(e alarmlog.Entry) error {
		if asJSON {
			b, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("entry at %s: %w", e.T.UTC().Format(wire.TimeLayout), err)
			}
			put("%s\n", b)
		} else {
			put("%s\n", textLine(e))
		}
		return werr
	}
	bad := func(le *alarmlog.LineError) {
		fmt.Fprintf(stderr, "chairside: alarm log: %v\n", le)
		if !asJSON {
			put("# skipped: %s\n", logText(le.Error()))
		}
	}
	if !alarmlog.Exists(dir) {
		st, err := store.Open(dir, store.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer st.Close()
		return st.AuditLog(func(e store.Entry) error { return show(alarmlog.FromStore(e)) })
	}
	return errors.Join(alarmlog.Read(dir, show, bad), werr)
}

// textLine is one entry as a tab-separated line: time, kind, who, what,
// status, detail. An audited action: who did it, the action, ok or refused,
// its detail. An alarm change: who acknowledged it ("-": no one), the phase
// (start, update, end), the state, then id, condition, priority, value,
// limit, audio, session and message as key=value (the message last).
func textLine(e alarmlog.Entry) string {
	t := e.T.UTC().Format(wire.TimeLayout)
	switch {
	case e.Audit != nil:
		status := "ok"
		if !e.OK {
			status = "refused"
		}
		return strings.Join([]string{t, alarmlog.KindAudit, logText(e.By), logText(e.Action), status, logText(e.Detail)}, "\t")
	case e.Alarm != nil:
		who := "-"
		if e.AckedBy != nil {
			who = logText(*e.AckedBy)
		}
		detail := fmt.Sprintf("id=%s condition=%s priority=%s value=%s limit=%s audio=%s session=%s message=%s",
			e.ID, e.Condition, e.Priority, e.Value, e.Limit, e.Audio, e.Session, e.Message)
		return strings.Join([]string{t, alarmlog.KindAlarm, who, logText(e.Phase), logText(e.State), logText(detail)}, "\t")
	}
	return t + "\t" + logText(e.Kind) + "\t-\t-\t-\t-"
}
