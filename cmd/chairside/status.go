package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/config"
	"github.com/chairside/chairside/monitor/store"
	"github.com/chairside/chairside/monitor/wire"
)

// Bounds of `chairside status` as a client: a daemon that does not answer
// within statusClientWait is reported, not waited for, and a document over
// statusMaxDoc is refused.
const (
	statusClientWait = 5 * time.Second
	statusMaxDoc     = 1 << 20
)

// engineStaleAfter: an engine view older than this means the engine loop
// is not stepping (it publishes at least every second).
const engineStaleAfter = 5 * time.Second

// runStatus is `chairside status [-json] [-socket PATH] [-config FILE]`: it
// asks the running daemon for its status document and prints it. The
// socket is -socket, else the config's [status] socket (when the config
// can be read), else the default. Exit 0 when the daemon answered, 1 when
// it did not (not running, or the socket is elsewhere or not ours to
// read), 2 for bad flags.
func runStatus(args []string, cfgPath string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chairside status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfgPath, "config", cfgPath, "configuration `file` (for the socket's path and, when the daemon is not running, the store)")
	socket := fs.String("socket", "", "the daemon's status `socket` (default: the config's [status] socket, else "+config.DefaultStatusSocket+")")
	asJSON := fs.Bool("json", false, "print the daemon's JSON document as it is")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "chairside status: unexpected arguments %q\n", fs.Args())
		return exitConfig
	}
	// The config is read only for the socket and the store: a problem in it
	// (a secret this user cannot read) does not stop the question.
	cfg, _ := config.Load(cfgPath)
	path := *socket
	if path == "" {
		path = config.DefaultStatusSocket
		if cfg != nil {
			path = cfg.Status.Socket
		}
	}
	if path == "" {
		fmt.Fprintf(stderr, "chairside status: %s turns the status socket off ([status] socket = \"\"); give -socket PATH\n", cfgPath)
		return exitRuntime
	}
	raw, doc, err := fetchStatus(path)
	if err != nil {
		fmt.Fprintf(stderr, "chairside status: %v\n", err)
		if cfg != nil && notRunning(err) {
			printStoredState(cfg, stderr)
		}
		return exitRuntime
	}
	if *asJSON {
		_, _ = stdout.Write(raw)
		return exitOK
	}
	printStatus(stdout, doc)
	return exitOK
}

// fetchStatus reads the one document the daemon serves on path.
func fetchStatus(path string) ([]byte, statusDoc, error) {
	var doc statusDoc
	c, err := net.DialTimeout("unix", path, statusClientWait)
	if err != nil {
		return nil, doc, explainDial(path, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(statusClientWait))
	raw, err := io.ReadAll(io.LimitReader(c, statusMaxDoc+1))
	if err != nil {
		return nil, doc, fmt.Errorf("the daemon on %s did not answer in full within %v: %w", path, statusClientWait, err)
	}
	if len(raw) > statusMaxDoc {
		return nil, doc, fmt.Errorf("the document on %s is over %d bytes: not a chairside status socket?", path, statusMaxDoc)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, doc, fmt.Errorf("%s closed without a document (too many clients at once? try again)", path)
	}
	doc, err = parseStatus(raw)
	if err != nil {
		return nil, doc, fmt.Errorf("%s: %w", path, err)
	}
	return raw, doc, nil
}

// parseStatus reads a status document (what the socket sent: outside
// input to this program).
func parseStatus(raw []byte) (statusDoc, error) {
	var doc statusDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return doc, fmt.Errorf("not a status document: %w", err)
	}
	if doc.V != statusFormat {
		return doc, fmt.Errorf("a status document of format %d; this chairside reads format %d (the daemon and this program differ in version?)", doc.V, statusFormat)
	}
	return doc, nil
}

// errNotRunning marks a dial that found no daemon.
var errNotRunning = errors.New("the daemon is not running")

func notRunning(err error) bool { return errors.Is(err, errNotRunning) }

// explainDial says why the socket could not be reached, in the words an
// engineer needs.
func explainDial(path string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%w, or its status socket is elsewhere: no %s (systemctl status chairside)", errNotRunning, path)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: %s is left from an earlier run (systemctl status chairside)", errNotRunning, path)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%s: permission denied: run it as a member of group chairside (sudo usermod -aG chairside $USER, then log in again) or with sudo", path)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// printStoredState prints what the store last saved, for a daemon that is
// not running: read-only, so it never changes the store (and fails when a
// daemon holds it after all).
func printStoredState(cfg *config.Config, out io.Writer) {
	st, err := store.Open(cfg.Store.Dir, store.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintf(out, "chairside status: the store cannot be read either: %v\n", err)
		return
	}
	defer st.Close()
	fmt.Fprintf(out, "last saved in the store %s (boot %d, stream %s):\n", logText(cfg.Store.Dir), st.Boot(), logText(st.Stream()))
	fmt.Fprintf(out, "  backlog   %d record(s) not yet delivered to the broker\n", st.Stats().Records)
	b, err := st.LoadSnapshot()
	switch {
	case err != nil:
		fmt.Fprintf(out, "  session   unreadable: %v\n", err)
		return
	case len(b) == 0:
		fmt.Fprintf(out, "  session   none saved\n")
		return
	}
	snap, err := monitor.DecodeSnapshot(b)
	if err != nil {
		fmt.Fprintf(out, "  session   unreadable: %v\n", err)
		return
	}
	if snap.Session.ID == "" {
		fmt.Fprintf(out, "  session   idle (saved %s)\n", clock(snap.Taken))
	} else {
		fmt.Fprintf(out, "  session   %s, phase %s (saved %s); the daemon resumes it when it starts\n",
			logText(snap.Session.ID), snap.Session.Phase, clock(snap.Taken))
	}
	for _, a := range snap.Alarms {
		fmt.Fprintf(out, "  alarm     %-6s %s %s since %s: %s\n", strings.ToUpper(a.Priority.String()), logText(a.Condition), a.State, clock(a.Started), logText(a.Message))
	}
}

// printStatus prints the document for a person: the session, the alarms
// (highest first), each value with its age, the sensors, the link, the
// backlog, the store and the clock. Every text from the daemon is escaped
// (logText); a value the sensor did not give is "--".
func printStatus(out io.Writer, d statusDoc) {
	now := d.T.Time
	p := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	p("chairside %s: version %s, pid %d, boot %d, up %s (since %s)\n", logText(d.Chair), logText(d.Version), d.PID, d.Boot,
		span(time.Duration(d.UptimeS*float64(time.Second))), clock(d.Started.Time))
	if d.Engine.AgeS > engineStaleAfter.Seconds() {
		p("ENGINE    NOT STEPPING: its view is %s old; what follows is from then (the watchdog restarts a hung engine)\n", secs(d.Engine.AgeS))
	}
	if d.Session.ID == "" {
		p("session   idle\n")
	} else {
		enc := ""
		if d.Session.Encounter != "" {
			enc = " (encounter " + logText(d.Session.Encounter) + ")"
		}
		p("session   %s%s, phase %s for %s, started %s\n", logText(d.Session.ID), enc, logText(d.Session.Phase),
			span(now.Sub(d.Session.PhaseStarted.Time)), clock(d.Session.Started.Time))
	}
	if len(d.Alarms) == 0 {
		p("alarms    none\n")
	} else {
		p("alarms    %d\n", len(d.Alarms))
		for _, a := range d.Alarms {
			p("  %-6s  %s  %s, audio %s, for %s", strings.ToUpper(logText(a.Priority)), logText(a.Condition), logText(a.State),
				logText(a.Audio), span(now.Sub(a.Started.Time)))
			if a.Value.Valid {
				p(", value %s", fnum(a.Value))
			}
			if a.Limit.Valid {
				p(", limit %s", fnum(a.Limit))
			}
			if a.AckedBy != nil {
				p(", acknowledged by %s", logText(*a.AckedBy))
			}
			p(": %s\n", logText(a.Message))
		}
	}
	if !d.AudioPausedUntil.IsZero() {
		p("audio     paused until %s (%s more)\n", clock(d.AudioPausedUntil.Time), span(d.AudioPausedUntil.Sub(now)))
	}
	for _, v := range d.Vitals {
		val := "--"
		if v.Value.Valid {
			val = fnum(v.Value) + " " + logText(v.Unit)
		}
		p("%-9s %-8s %s", logText(v.Param), val, ago(v.AgeS))
		if len(v.Flags) > 0 {
			p(" [%s]", logText(strings.Join(v.Flags, " ")))
		}
		p(" (%s)\n", logText(v.Source))
	}
	p("nibp      ")
	switch n := d.NIBP.Last; {
	case n == nil:
		p("no result since the daemon started")
	case n.Error != "":
		p("failed %s: %s", ago(d.NIBP.AgeS), logText(n.Error))
	default:
		p("%s/%s", fnum(n.Systolic), fnum(n.Diastolic))
		if n.Mean.Valid {
			p(" (%s)", fnum(n.Mean))
		}
		p(" mm[Hg] %s", ago(d.NIBP.AgeS))
	}
	switch {
	case d.NIBP.InFlight:
		p("; measuring now")
	case !d.NIBP.Next.IsZero():
		p("; next in %s", span(d.NIBP.Next.Sub(now)))
	}
	if d.NIBP.Failures > 0 {
		p("; %d failure(s) in a row", d.NIBP.Failures)
	}
	p("\n")
	for _, s := range d.Sensors {
		p("sensor %d  %s on %s: ", s.Sensor, logText(s.Driver), logText(s.Port))
		if s.AgeS == nil {
			p("NO DATA since the daemon started")
		} else {
			p("last data %s", ago(s.AgeS))
		}
		p(", %d frames, %d garbled\n", s.Frames, s.Garbled)
	}
	l := d.Link
	switch {
	case l.Down:
		p("link      DOWN for %s: %s (broker %s)\n", span(now.Sub(l.Since.Time)), logText(l.Reason), logText(l.Broker))
	case l.Connected:
		p("link      up, broker %s\n", logText(l.Broker))
	default:
		p("link      not connected, broker %s (link_down after 30 s)", logText(l.Broker))
		if l.LastError != "" {
			p(": %s", logText(l.LastError))
		}
		p("\n")
	}
	b := d.Backlog
	p("backlog   %d record(s) not yet delivered (store %d, memory %d); writing %d, publishing %d, awaiting proof %d\n",
		b.Records, b.StoreRecords, b.Memory, b.Writing, b.Publishing, b.Awaiting)
	if s := d.Store; s == nil {
		p("store     NONE: running without a store (store_fault)\n")
	} else {
		full := ""
		if s.Full {
			full = "; FULL: new vitals are refused"
		}
		p("store     %s: file %s, records %s of %s (%.0f%%)%s", logText(s.Dir), mib(s.FileSize), mib(s.Bytes), mib(s.MaxBytes),
			100*float64(s.Bytes)/float64(max(s.MaxBytes, 1)), full)
		if s.Gaps+s.Dropped+s.Corrupt > 0 {
			p("; %d gap(s), %d vitals dropped, %d corrupt", s.Gaps, s.Dropped, s.Corrupt)
		}
		p("\n")
	}
	if d.Clock.Synced {
		p("clock     synchronised\n")
	} else {
		p("clock     NOT synchronised: records say clock_synced=false (timedatectl)\n")
	}
	if d.CommandsBusy > 0 {
		p("commands  %d refused as busy since the daemon started\n", d.CommandsBusy)
	}
}

// clock is a time of day in UTC, as the alarm log gives times; "-" when zero.
func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// span is a duration as a person reads it: 0.4s, 3m12s, 2h5m.
func span(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

func secs(s float64) string { return span(time.Duration(s * float64(time.Second))) }

// ago is "0.4s ago", or "never" for no time.
func ago(s *float64) string {
	if s == nil {
		return "never"
	}
	return secs(*s) + " ago"
}

func fnum(n wire.Num) string {
	if !n.Valid {
		return "--"
	}
	b, _ := n.MarshalJSON()
	return string(b)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
