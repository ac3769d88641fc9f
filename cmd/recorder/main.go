// Command recorder is the records bridge (CONTRACT §7): it subscribes to
// every chair and archives every record-stream message exactly once, keyed
// (chair, stream, seq), in SQLite or PostgreSQL, and with [hl7] forwards
// them to the clinic's records system as HL7 v2 over MLLP.
//
//	recorder -config FILE                      run the recorder
//	recorder -check -config FILE               check the config, exit 0 or 2
//	recorder gaps [-json] -config FILE         holes per (chair, stream) and the chairs' gap records
//	recorder status [-json] -config FILE       counts, lag, duplicates, conflicts, rejected, chairs, forwarding
//	recorder export -config FILE -session s-... -format csv|hl7|fhir [-out FILE]
//	recorder -version
//
// The subcommands only read the database and work while a recorder runs.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/chairside/chairside/cmd/internal/buildinfo"
	"github.com/chairside/chairside/cmd/internal/cli"
	"github.com/chairside/chairside/monitor/archive"
	"github.com/chairside/chairside/monitor/forward"
	"github.com/chairside/chairside/monitor/hl7"
	"github.com/chairside/chairside/monitor/mqttlink"
	"github.com/chairside/chairside/monitor/recorder"
)

// Exit codes (CONTRACT §1).
const (
	exitOK      = 0
	exitRuntime = 1
	exitConfig  = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return subcommand(args[0], args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("recorder", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", recorder.DefaultConfigPath, "configuration `file`")
	check := fs.Bool("check", false, "check the configuration, print every problem, and exit")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "recorder: unexpected arguments %q\n", fs.Args())
		return exitConfig
	}
	if *version {
		fmt.Fprintln(stdout, "recorder", buildinfo.Version())
		return exitOK
	}
	if *check {
		_, ps := recorder.LoadConfig(*cfgPath)
		return cli.Check(*cfgPath, ps, stdout)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	cfg, ps := recorder.LoadConfig(*cfgPath)
	if err := ps.Err(); err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	log := cli.Logger(stderr)
	for _, p := range ps.List { // warnings
		log.Warn("config", "problem", p.String())
	}
	return runDaemon(ctx, cfg, log)
}

// readSecret reads a password file; the value is never logged.
func readSecret(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// openArchive opens and migrates the database. PostgreSQL that is not up
// yet is waited for (a recorder started with its database server); a SQLite
// file that cannot be opened is an error at once.
func openArchive(ctx context.Context, cfg *recorder.Config, log *slog.Logger) (*archive.DB, error) {
	pw, err := readSecret(cfg.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("password_file: %w", err)
	}
	pause := time.Second
	for {
		db, err := archive.Open(ctx, cfg.Database, pw, true)
		if err == nil {
			if err = db.Migrate(ctx); err == nil {
				return db, nil
			}
			db.Close()
		}
		if strings.HasPrefix(cfg.Database, "sqlite:") || ctx.Err() != nil {
			return nil, err
		}
		log.Error("database not available; trying again", "err", err, "retry_in", pause.String())
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		pause = min(2*pause, 30*time.Second)
	}
}

func runDaemon(ctx context.Context, cfg *recorder.Config, log *slog.Logger) int {
	log.Info("recorder starting", "version", buildinfo.Version(), "name", cfg.Name, "filter", cfg.Filter(), "database_kind", strings.SplitN(cfg.Database, ":", 2)[0])
	db, err := openArchive(ctx, cfg, log)
	if err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		log.Error("not starting: database", "err", err)
		return exitRuntime
	}
	defer db.Close()
	db.RejectedKeep = cfg.Ingest.RejectedKeep
	fwd, closeFwd, err := newForwarder(cfg, db, log)
	if err != nil {
		log.Error("not starting: hl7", "err", err)
		return exitConfig
	}
	defer closeFwd()

	mqttPassword, err := readSecret(cfg.MQTT.PasswordFile)
	if err != nil {
		log.Error("not starting: mqtt password_file unreadable", "err", err)
		return exitRuntime
	}
	ing := recorder.New(db, recorder.Options{
		Prefix: cfg.TopicPrefix, MaxPayload: cfg.Ingest.MaxPayload, BatchMax: cfg.Ingest.BatchMax,
		Queue: cfg.Ingest.Queue, Log: log,
	})
	link, err := mqttlink.New(mqttlink.Config{
		Broker: cfg.MQTT.Broker, ClientID: cfg.ClientID(), Username: cfg.MQTT.Username, Password: mqttPassword,
		CAFile: cfg.MQTT.CAFile, CertFile: cfg.MQTT.CertFile, KeyFile: cfg.MQTT.KeyFile, Keepalive: cfg.MQTT.Keepalive,
		Logger: log,
		// The broker keeps the recorder's subscription and queues for it
		// while it is away; a message is acknowledged only once committed.
		PersistentSession: true, ManualAck: true,
		// A message over max_payload must reach the parser whole enough to
		// be seen as oversized, never cut down to a size that passes.
		MaxInboundPacket: cfg.Ingest.MaxPayload + 8<<10,
		InboundBuffer:    1024,
	})
	if err != nil {
		log.Error("not starting: mqtt", "err", err)
		return exitConfig
	}
	if err := link.Subscribe(cfg.Filter(), 1, ing.Handle); err != nil {
		log.Error("not starting: mqtt subscribe", "err", err)
		return exitConfig
	}

	// Shutdown order: the ingest finishes the batch under way (and
	// acknowledges it), then the link disconnects: within 5 s in all.
	ingCtx, stopIngest := context.WithCancel(context.Background())
	linkCtx, stopLink := context.WithCancel(context.Background())
	ingDone := make(chan error, 1)
	linkDone := make(chan error, 1)
	go func() { ingDone <- ing.Run(ingCtx) }()
	go func() { linkDone <- link.Run(linkCtx) }()
	fwdCtx, stopFwd := context.WithCancel(context.Background())
	fwdDone := make(chan error, 1)
	if fwd != nil {
		go func() { fwdDone <- fwd.Run(fwdCtx) }()
	} else {
		fwdDone <- nil
	}

	// systemd (Type=notify): ready once the archive is open and the
	// ingest, the link and the forwarder run; the watchdog is fed only
	// while the ingest turns (a write hung past its bound stops it, and
	// systemd restarts the recorder: the broker keeps what was not
	// acknowledged). Outside systemd these are no-ops.
	_, _ = sd.SdNotify(false, sd.SdNotifyReady+"\nSTATUS=started")
	defer func() { _, _ = sd.SdNotify(false, sd.SdNotifyStopping) }()
	alive := time.NewTicker(5 * time.Second)
	defer alive.Stop()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-alive.C:
			if ing.Healthy(time.Now()) {
				s := ing.Stats()
				broker := "connected"
				if !link.Up() {
					broker = "DOWN"
				}
				_, _ = sd.SdNotify(false, fmt.Sprintf("%s\nSTATUS=%d records stored, %d duplicates, %d rejected; broker %s",
					sd.SdNotifyWatchdog, s.Inserted, s.Duplicates, s.Rejected, broker))
			}
		case <-tick.C:
			s := ing.Stats()
			log.Info("recorder stats", "received", s.Received, "inserted", s.Inserted, "duplicates", s.Duplicates,
				"conflicts", s.Conflicts, "states", s.States, "rejected", s.Rejected, "ignored", s.Ignored,
				"batches", s.Batches, "write_errors", s.WriteErrors, "mqtt_up", link.Up())
			if fwd != nil {
				f := fwd.Stats()
				log.Info("hl7 forwarding stats", "sent", f.Sent, "refused", f.Refused, "failed", f.Failed, "retries", f.Retries,
					"minutes_queued", f.MinutesQueued, "minutes_after_wait", f.MinutesQuiet)
			}
		}
	}
	log.Info("recorder stopping")
	// The forwarder stops at once: a send under way is dropped unmarked
	// and sent again (same control id) at the next start.
	stopFwd()
	stopIngest()
	select {
	case <-ingDone:
	case <-time.After(2 * time.Second):
		log.Warn("archive write still under way at shutdown; its messages will be delivered again")
	}
	stopLink()
	select {
	case <-linkDone:
	case <-time.After(2500 * time.Millisecond):
		log.Warn("mqtt link did not close in time")
	}
	select {
	case <-fwdDone:
	case <-time.After(500 * time.Millisecond):
		log.Warn("hl7 forwarding did not stop in time")
	}
	s := ing.Stats()
	log.Info("recorder stopped", "received", s.Received, "inserted", s.Inserted, "duplicates", s.Duplicates,
		"conflicts", s.Conflicts, "rejected", s.Rejected)
	return exitOK
}

// newForwarder sets up HL7 forwarding when the config has [hl7]: the
// archive queues messages with the records, the forwarder sends them. It
// returns nil without [hl7].
func newForwarder(cfg *recorder.Config, db *archive.DB, log *slog.Logger) (*forward.Forwarder, func(), error) {
	if cfg.HL7 == nil {
		return nil, func() {}, nil
	}
	hcfg := cfg.HL7.HL7Config()
	client, err := hl7.NewClient(cfg.HL7.Target, hl7.ClientOptions{})
	if err != nil {
		return nil, nil, err
	}
	db.Forward = forward.Hook(hcfg)
	fwd, err := forward.New(db, forward.Options{HL7: hcfg, Holder: cfg.Name, Send: client.Send, Quiet: cfg.HL7.MinuteWait,
		// A claim outlives the longest send (connect and ack timeouts).
		Lease: hl7.DefaultDialTimeout + hl7.DefaultAckTimeout + 25*time.Second,
		Log:   log.With("part", "hl7")})
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	log.Info("hl7 forwarding on", "target", cfg.HL7.Target, "minute_wait", cfg.HL7.MinuteWait.String())
	return fwd, func() { client.Close() }, nil
}
