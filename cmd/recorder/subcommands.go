package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/chairside/chairside/monitor/archive"
	"github.com/chairside/chairside/monitor/fhir"
	"github.com/chairside/chairside/monitor/forward"
	"github.com/chairside/chairside/monitor/recorder"
	"github.com/chairside/chairside/monitor/wire"
)

// subcommand runs gaps, status or export: read-only, beside a running
// recorder.
func subcommand(name string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("recorder "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", recorder.DefaultConfigPath, "configuration `file`")
	asJSON := fs.Bool("json", false, "gaps, status: one JSON document instead of text")
	session := fs.String("session", "", "export: the session id (s-...)")
	format := fs.String("format", "", "export: csv, hl7 (the ORU^R01 messages) or fhir (an R4 Bundle)")
	chair := fs.String("chair", "", "export: the chair, when the session id is on several chairs (an id is unique per chair)")
	minutes := fs.Bool("minutes", false, "export -format fhir: SpO2 and pulse as one Observation per minute (the HL7 feed's medians)")
	out := fs.String("out", "", "export: write to `file` instead of standard output")
	switch name {
	case "gaps", "status", "export":
	default:
		fmt.Fprintf(stderr, "recorder: unknown subcommand %q (gaps, status, export; or flags: -config, -check, -version)\n", name)
		return exitConfig
	}
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "recorder %s: unexpected arguments %q\n", name, fs.Args())
		return exitConfig
	}
	cfg, ps := recorder.LoadConfig(*cfgPath)
	if err := ps.Err(); err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	if name == "export" {
		switch {
		case *session == "":
			fmt.Fprintln(stderr, "recorder export: -session s-... is required")
			return exitConfig
		case *format != "csv" && *format != "hl7" && *format != "fhir":
			fmt.Fprintf(stderr, "recorder export: -format %q: give csv, hl7 or fhir\n", *format)
			return exitConfig
		case *minutes && *format != "fhir":
			fmt.Fprintln(stderr, "recorder export: -minutes is for -format fhir")
			return exitConfig
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pw, err := readSecret(cfg.PasswordFile)
	if err != nil {
		fmt.Fprintf(stderr, "recorder %s: password_file: %v\n", name, err)
		return exitRuntime
	}
	db, err := archive.Open(ctx, cfg.Database, pw, false)
	if err != nil {
		fmt.Fprintf(stderr, "recorder %s: %v\n", name, err)
		return exitRuntime
	}
	defer db.Close()
	if err := db.Ready(ctx); err != nil {
		fmt.Fprintf(stderr, "recorder %s: %v\n", name, err)
		return exitRuntime
	}
	now := time.Now()
	switch name {
	case "gaps":
		err = printGaps(ctx, db, stdout, now, *asJSON)
	case "status":
		err = printStatus(ctx, db, cfg, stdout, now, *asJSON)
	case "export":
		err = export(ctx, db, cfg, *session, *chair, *format, *minutes, *out, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "recorder %s: %v\n", name, err)
		return exitRuntime
	}
	return exitOK
}

// Gaps is `recorder gaps -json`.
type Gaps struct {
	Holes      []Hole      `json:"holes"`
	GapRecords []GapRecord `json:"gap_records"`
}

// Hole is a run of missing seq numbers.
type Hole struct {
	Chair      string    `json:"chair"`
	Stream     string    `json:"stream"`
	FromSeq    int64     `json:"from_seq"`
	ToSeq      int64     `json:"to_seq"`
	Missing    int64     `json:"missing"`
	Since      wire.Time `json:"since"`
	AgeSeconds float64   `json:"age_s"`
}

// GapRecord is a chair's own report of records it dropped.
type GapRecord struct {
	Chair   string    `json:"chair"`
	Stream  string    `json:"stream"`
	Seq     int64     `json:"seq"`
	T       wire.Time `json:"t"`
	FromSeq uint64    `json:"from_seq"`
	ToSeq   uint64    `json:"to_seq"`
	Reason  string    `json:"reason"`
}

func printGaps(ctx context.Context, db *archive.DB, w io.Writer, now time.Time, asJSON bool) error {
	holes, err := db.Holes(ctx)
	if err != nil {
		return err
	}
	recs, err := db.GapRecords(ctx)
	if err != nil {
		return err
	}
	g := Gaps{Holes: []Hole{}, GapRecords: []GapRecord{}}
	for _, h := range holes {
		g.Holes = append(g.Holes, Hole{Chair: h.Chair, Stream: h.Stream, FromSeq: h.From, ToSeq: h.To, Missing: h.To - h.From + 1,
			Since: wire.At(h.Since), AgeSeconds: now.Sub(h.Since).Seconds()})
	}
	for _, r := range recs {
		var v wire.Gap
		if err := json.Unmarshal(r.Payload, &v); err != nil {
			return fmt.Errorf("gap record %s/%s/%d unreadable: %w", r.Chair, r.Stream, r.Seq, err)
		}
		g.GapRecords = append(g.GapRecords, GapRecord{Chair: r.Chair, Stream: r.Stream, Seq: r.Seq, T: v.T,
			FromSeq: v.FromSeq, ToSeq: v.ToSeq, Reason: v.Reason})
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(g)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "holes (seq missing between the lowest and highest stored, per chair and stream): %d\n", len(g.Holes))
	if len(g.Holes) > 0 {
		fmt.Fprintln(tw, "chair\tstream\tmissing seq\tcount\tknown since\tage")
		for _, h := range g.Holes {
			fmt.Fprintf(tw, "%s\t%s\t%d-%d\t%d\t%s\t%s\n", h.Chair, h.Stream, h.FromSeq, h.ToSeq, h.Missing,
				h.Since.UTC().Format(wire.TimeLayout), recorder.FormatAge(now.Sub(h.Since.Time)))
		}
	}
	fmt.Fprintf(tw, "gap records (records a chair dropped itself): %d\n", len(g.GapRecords))
	if len(g.GapRecords) > 0 {
		fmt.Fprintln(tw, "chair\tstream\tseq\tt\tdropped seq\treason")
		for _, r := range g.GapRecords {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d-%d\t%s\n", r.Chair, r.Stream, r.Seq, fmtTime(r.T.Time), r.FromSeq, r.ToSeq, r.Reason)
		}
	}
	return tw.Flush()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(wire.TimeLayout)
}

// Status is `recorder status -json`.
type Status struct {
	Records         int64            `json:"records"`
	ByKind          map[string]int64 `json:"by_kind"`
	LastReceived    wire.Time        `json:"last_received"`
	LagSeconds      *float64         `json:"lag_s"` // since the last record was stored; null when none
	Duplicates      int64            `json:"duplicates"`
	Conflicts       int64            `json:"conflicts"`
	ConflictsStored int64            `json:"conflicts_stored"`
	Rejected        int64            `json:"rejected"`
	RejectedStored  int64            `json:"rejected_stored"`
	Ignored         int64            `json:"ignored"`
	LastRejected    []Rejected       `json:"last_rejected"`
	Chairs          []Chair          `json:"chairs"`
	Forwarding      Forwarding       `json:"forwarding"`
}

// Forwarding is the HL7 forwarding state.
type Forwarding struct {
	On          bool             `json:"on"`               // [hl7] is in the config
	Target      string           `json:"target,omitempty"` // the MLLP receiver
	ByStatus    map[string]int64 `json:"by_status"`        // pending, sent, refused, failed
	OpenMinutes int64            `json:"open_minutes"`     // minutes not complete yet
	LateRecords int64            `json:"late_records"`     // records stored after their minute's message was queued
	Next        *OutboxItem      `json:"next"`             // the next message to go (with its last error and next attempt), null when none
	LastSent    *OutboxItem      `json:"last_sent"`
	Refused     []OutboxItem     `json:"refused"` // the newest refused (AE/AR) and failed (could not be built) messages, with reasons
}

// OutboxItem is one HL7 message's state.
type OutboxItem struct {
	ControlID   string    `json:"control_id"`
	Chair       string    `json:"chair"`
	Session     string    `json:"session"`
	Status      string    `json:"status"`
	AckCode     string    `json:"ack_code,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
	Queued      wire.Time `json:"queued"`
	LastAttempt wire.Time `json:"last_attempt"`
	NextAttempt wire.Time `json:"next_attempt"` // null: as soon as it is first in line
	Done        wire.Time `json:"done"`
	Claim       string    `json:"claimed_by,omitempty"`
}

func outboxItem(o *archive.OutboxRow) *OutboxItem {
	if o == nil {
		return nil
	}
	return &OutboxItem{ControlID: o.ControlID, Chair: o.Chair, Session: o.Session, Status: o.Status, AckCode: o.AckCode,
		Reason: o.Reason, Attempts: o.Attempts, LastError: o.LastError, Queued: wire.At(o.Created), LastAttempt: wire.At(o.LastAttempt),
		NextAttempt: wire.At(o.NextAttempt), Done: wire.At(o.Done), Claim: o.Claim}
}

// Rejected is one stored rejected message.
type Rejected struct {
	Received wire.Time `json:"received"`
	Topic    string    `json:"topic"`
	Reason   string    `json:"reason"`
	Bytes    int64     `json:"bytes"`
}

// Chair is one chair's availability and records.
type Chair struct {
	Chair        string    `json:"chair"`
	Online       bool      `json:"online"`
	Boot         int64     `json:"boot"`
	Session      string    `json:"session"`
	Phase        string    `json:"phase"`
	StateAt      wire.Time `json:"state_received"`
	Records      int64     `json:"records"`
	LastReceived wire.Time `json:"last_received"`
}

func printStatus(ctx context.Context, db *archive.DB, cfg *recorder.Config, w io.Writer, now time.Time, asJSON bool) error {
	st, err := db.Status(ctx, 10)
	if err != nil {
		return err
	}
	hs, err := db.HL7Status(ctx, 10)
	if err != nil {
		return err
	}
	fw := Forwarding{On: cfg.HL7 != nil, ByStatus: hs.ByStatus, OpenMinutes: hs.OpenMinutes, LateRecords: hs.LateRecords,
		Next: outboxItem(hs.Head), LastSent: outboxItem(hs.LastSent), Refused: []OutboxItem{}}
	if cfg.HL7 != nil {
		fw.Target = cfg.HL7.Target
	}
	for i := range hs.Refused {
		fw.Refused = append(fw.Refused, *outboxItem(&hs.Refused[i]))
	}
	s := Status{Records: st.Records, ByKind: map[string]int64{}, LastReceived: wire.At(st.LastReceived),
		Duplicates: st.Counters[archive.CounterDuplicates], Conflicts: st.Counters[archive.CounterConflicts],
		ConflictsStored: st.Conflicts, Rejected: st.Counters[archive.CounterRejected], RejectedStored: st.RejectedKept,
		Ignored: st.Counters[archive.CounterIgnored], LastRejected: []Rejected{}, Chairs: []Chair{}, Forwarding: fw}
	for _, k := range st.Kinds {
		s.ByKind[k.Kind] = k.Count
	}
	if !st.LastReceived.IsZero() {
		lag := now.Sub(st.LastReceived).Seconds()
		s.LagSeconds = &lag
	}
	for _, r := range st.LastRejected {
		s.LastRejected = append(s.LastRejected, Rejected{Received: wire.At(r.Received), Topic: r.Topic, Reason: r.Reason, Bytes: r.Size})
	}
	for _, c := range st.Chairs {
		s.Chairs = append(s.Chairs, Chair{Chair: c.Chair, Online: c.Online, Boot: c.Boot, Session: c.Session, Phase: c.Phase,
			StateAt: wire.At(c.StateAt), Records: c.Records, LastReceived: wire.At(c.LastReceived)})
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "database\t%s\n", db.Kind())
	fmt.Fprintf(tw, "records\t%d\n", s.Records)
	for _, k := range st.Kinds {
		fmt.Fprintf(tw, "  %s\t%d\tlast stored %s\n", k.Kind, k.Count, fmtTime(k.LastReceived))
	}
	if s.LagSeconds != nil {
		fmt.Fprintf(tw, "last record stored\t%s (%s ago)\n", fmtTime(st.LastReceived), recorder.FormatAge(now.Sub(st.LastReceived)))
	} else {
		fmt.Fprintf(tw, "last record stored\tnever\n")
	}
	fmt.Fprintf(tw, "duplicates dropped\t%d\n", s.Duplicates)
	fmt.Fprintf(tw, "conflicts kept aside\t%d (stored %d)\n", s.Conflicts, s.ConflictsStored)
	fmt.Fprintf(tw, "rejected messages\t%d (last %d stored)\n", s.Rejected, s.RejectedStored)
	fmt.Fprintf(tw, "live messages not archived\t%d (pleth, alarms, cmd, cmd/reply)\n", s.Ignored)
	for _, r := range s.LastRejected {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d bytes\n", fmtTime(r.Received.Time), r.Topic, r.Reason, r.Bytes)
	}
	printForwarding(tw, fw, now)
	fmt.Fprintf(tw, "chairs\t%d\n", len(s.Chairs))
	if len(s.Chairs) > 0 {
		fmt.Fprintln(tw, "  chair\tonline\tboot\tsession\tphase\tstate received\trecords\tlast record stored")
		for _, c := range s.Chairs {
			fmt.Fprintf(tw, "  %s\t%v\t%d\t%s\t%s\t%s\t%d\t%s\n", c.Chair, c.Online, c.Boot, orDash(c.Session), orDash(c.Phase),
				fmtTime(c.StateAt.Time), c.Records, fmtTime(c.LastReceived.Time))
		}
	}
	return tw.Flush()
}

func printForwarding(w io.Writer, fw Forwarding, now time.Time) {
	switch {
	case fw.On:
		fmt.Fprintf(w, "HL7 forwarding\ton, to %s\n", fw.Target)
	case len(fw.ByStatus) == 0:
		fmt.Fprintf(w, "HL7 forwarding\toff (no [hl7] in the config)\n")
	default:
		fmt.Fprintf(w, "HL7 forwarding\toff (no [hl7] in the config); messages queued earlier:\n")
	}
	if !fw.On && len(fw.ByStatus) == 0 {
		return
	}
	fmt.Fprintf(w, "  pending\t%d\n  sent\t%d\n  refused\t%d\n  failed (could not be built)\t%d\n",
		fw.ByStatus[archive.OutboxPending], fw.ByStatus[archive.OutboxSent], fw.ByStatus[archive.OutboxRefused], fw.ByStatus[archive.OutboxFailed])
	fmt.Fprintf(w, "  minutes not complete yet\t%d\n  records after their minute was sent\t%d\n", fw.OpenMinutes, fw.LateRecords)
	if n := fw.Next; n != nil {
		next := "now"
		if !n.NextAttempt.IsZero() && n.NextAttempt.After(now) {
			next = fmtTime(n.NextAttempt.Time) + " (in " + recorder.FormatAge(n.NextAttempt.Sub(now)) + ")"
		}
		fmt.Fprintf(w, "  next\t%s, queued %s, %d attempts, next attempt %s\n", n.ControlID, fmtTime(n.Queued.Time), n.Attempts, next)
		if n.LastError != "" {
			fmt.Fprintf(w, "  last error\t%s at %s\n", n.LastError, fmtTime(n.LastAttempt.Time))
		}
	}
	if l := fw.LastSent; l != nil {
		fmt.Fprintf(w, "  last sent\t%s at %s (%s ago)\n", l.ControlID, fmtTime(l.Done.Time), recorder.FormatAge(now.Sub(l.Done.Time)))
	}
	for _, r := range fw.Refused {
		code := r.AckCode
		if code == "" {
			code = r.Status
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", r.Status, r.ControlID, code, r.Reason)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// export writes a session as CSV, HL7 messages (each ended by a newline,
// segments by CR, as sent) or a FHIR Bundle to out (through a temporary
// file renamed at the end, so a failed export leaves no half file) or to
// stdout. Records that could not be used are named on stderr; the rest is
// written.
func export(ctx context.Context, db *archive.DB, cfg *recorder.Config, session, chair, format string, minutes bool, out string,
	stdout, stderr io.Writer) error {
	recs, err := db.SessionRecords(ctx, session)
	if err != nil {
		return err
	}
	if chair != "" {
		recs = slices.DeleteFunc(recs, func(r archive.StoredRecord) bool { return r.Chair != chair })
	}
	if len(recs) == 0 {
		return fmt.Errorf("no records of session %q", session)
	}
	if chairs := forward.Chairs(recs); len(chairs) > 1 && format != "csv" {
		return fmt.Errorf("session %q is on several chairs %v (a session id is unique per chair only): give -chair", session, chairs)
	}
	var write func(io.Writer) error
	switch format {
	case "csv":
		write = func(w io.Writer) error { return recorder.WriteCSV(w, recs) }
	case "hl7":
		hcfg := recorder.DefaultHL7().HL7Config()
		if cfg.HL7 != nil {
			hcfg = cfg.HL7.HL7Config()
		}
		msgs, err := forward.SessionMessages(hcfg, session, recs)
		if len(msgs) == 0 && err != nil {
			return err
		}
		if err != nil {
			fmt.Fprintf(stderr, "recorder export: records left out: %v\n", err)
		}
		write = func(w io.Writer) error {
			for _, m := range msgs {
				if _, err := w.Write(append(m.Bytes(), '\n')); err != nil {
					return err
				}
			}
			return nil
		}
	case "fhir":
		b, err := forward.SessionBundle(session, recs, fhir.Options{Minutes: minutes})
		if b.ResourceType == "" {
			return err
		}
		if err != nil {
			fmt.Fprintf(stderr, "recorder export: records left out: %v\n", err)
		}
		write = func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(b)
		}
	}
	if out == "" {
		return write(stdout)
	}
	f, err := os.CreateTemp(filepath.Dir(out), ".export-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), out)
}
