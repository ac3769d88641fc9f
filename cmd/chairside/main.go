// Command chairside is the bedside daemon: it reads the chair's sensors,
// follows the session, raises alarms and publishes everything over MQTT.
//
//	chairside -config FILE           run the daemon
//	chairside -alarm-log [-json] -config FILE print the alarm log (also while the daemon runs)
//	chairside -check -config FILE    check the config and its protocol, exit 0 or 2
//	chairside status [-json] [-socket PATH] [-config FILE] ask the running daemon how it is
//	chairside -version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/chairside/chairside/cmd/internal/buildinfo"
	"github.com/chairside/chairside/cmd/internal/cli"
	"github.com/chairside/chairside/monitor/config"
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
	if len(args) > 0 && args[0] == "status" {
		return runStatus(args[1:], config.DefaultPath, stdout, stderr)
	}
	fs := flag.NewFlagSet("chairside", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration `file`")
	check := fs.Bool("check", false, "check the configuration and its protocol file, print every problem, and exit")
	alarmLog := fs.Bool("alarm-log", false, "print the alarm log (every alarm change and audited action; works while the daemon runs)")
	asJSON := fs.Bool("json", false, "with -alarm-log: one JSON object per line")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.Arg(0) == "status" { // chairside -config FILE status ...
		return runStatus(fs.Args()[1:], *cfgPath, stdout, stderr)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "chairside: unexpected arguments %q\n", fs.Args())
		return exitConfig
	}
	if *version {
		fmt.Fprintln(stdout, "chairside", buildinfo.Version())
		return exitOK
	}
	if *check {
		_, ps := config.Load(*cfgPath)
		return cli.Check(*cfgPath, ps, stdout)
	}
	// Signals are ours from here on: a SIGTERM while the config loads ends
	// the daemon cleanly instead of killing it. SIGHUP (the terminal or ssh
	// session closed, or a "reload") stops it as cleanly: NIBP aborted,
	// state offline. The daemon has nothing to reload.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	cfg, ps := config.Load(*cfgPath)
	if err := ps.Err(); err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	if *alarmLog {
		if err := printAlarmLog(cfg, stdout, stderr, *asJSON); err != nil {
			fmt.Fprintf(stderr, "chairside: alarm log: %v\n", err)
			return exitRuntime
		}
		return exitOK
	}
	log := cli.Logger(stderr)
	for _, p := range ps.List { // warnings
		log.Warn("config", "problem", p.String())
	}
	lock, code, ok := lockDaemon(ctx, cfg, log)
	if !ok {
		return code
	}
	defer lock.release()
	cur := runtime.GOMAXPROCS(0)
	if n := procs(cur, os.Getenv("GOMAXPROCS") != ""); n != cur {
		runtime.GOMAXPROCS(n)
	}
	return runDaemon(ctx, cfg, log)
}

// lockDaemon takes the daemon's lock before anything is opened (store,
// ports, broker). ok is false when the daemon must not run: another one
// holds the lock (exit 1) or a signal came while waiting (exit 0). When the
// store directory cannot hold a lock file the lock is taken in the system's
// temporary directory under the chair's name, so that the daemon still runs
// (without a store, as it would) and still runs once.
func lockDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger) (l *daemonLock, code int, ok bool) {
	l, err := acquireLock(ctx, cfg.Store.Dir, lockWait)
	if err != nil && !errors.Is(err, errLocked) && ctx.Err() == nil {
		fallback := filepath.Join(os.TempDir(), "chairside-"+cfg.Chair)
		log.Error("lock file unavailable in the store directory; locking in the temporary directory", "err", err, "dir", fallback)
		l, err = acquireLock(ctx, fallback, lockWait)
	}
	switch {
	case err == nil:
		return l, exitOK, true
	case ctx.Err() != nil:
		log.Info("stopped while waiting for the lock")
		return nil, exitOK, false
	case errors.Is(err, errLocked):
		log.Error("not starting: "+err.Error()+"; stop it first (systemctl stop chairside)", "err", err)
		return nil, exitRuntime, false
	default:
		log.Error("not starting: no lock", "err", err)
		return nil, exitRuntime, false
	}
}

// maxProcs is the most Ps (threads running Go code at once) the daemon
// uses. Two keep the alarm path apart from bulk work, a backlog pass or a
// garbage collection, without the memory more cost: on the 2-core build
// machine the daemon measured 12.1 MB RSS with two and 13.8 MB with four
// (GOMAXPROCS=4), at the same CPU and context switches. With one, an alarm
// could wait for a backlog pass to be preempted (10 ms), although it
// measured 35 % fewer context switches.
const maxProcs = 2

// procs is the GOMAXPROCS the daemon runs with: the runtime's choice
// (current) capped at maxProcs, unless the environment set it (envSet).
func procs(current int, envSet bool) int {
	if envSet {
		return current
	}
	return min(current, maxProcs)
}
