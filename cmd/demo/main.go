// Command demo runs every part of chairside on one machine (`make demo`):
// the embedded MQTT broker, vitalsim emulating a Nonin oximeter and a
// SunTech NIBP module on pseudo-terminals for each of three chairs (calm,
// desaturating, hypertensive), a chairside daemon per chair on those ptys,
// and the nursing station with its page (the URL and a demo user's password
// are printed). With -terminal, a nurse's view in the terminal also follows
// every chair and plays the nurse's part (infusion start and end,
// acknowledgements). Ctrl-C stops it all.
//
//	demo [-bin DIR] [-configs DIR] [-speed X] [-listen ADDR] [-station ADDR] [-terminal] [-for D]
//
// The scenarios run -speed times faster than life and the demo protocol is
// the shipped one with its schedule (phases, NIBP intervals) as much faster;
// alarm delays and frame rates stay real, because the sensors' data does.
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
	"syscall"
	"time"

	"github.com/chairside/chairside/cmd/internal/buildinfo"
)

const (
	exitOK      = 0
	exitRuntime = 1
	exitFlags   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// With SIGPIPE caught, a write to a closed stdout (demo | head) fails
	// with EPIPE instead of killing the demo: stdoutGone then stops it
	// cleanly, parts first.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// stdoutGone ends the demo at the first failed write to its output: nobody
// reads it any more (a pipe to head that closed), so the demo stops its
// parts and exits rather than run on unseen.
type stdoutGone struct {
	w    io.Writer
	stop context.CancelFunc
}

func (s *stdoutGone) Write(b []byte) (int, error) {
	n, err := s.w.Write(b)
	if err != nil {
		s.stop()
	}
	return n, err
}

// options are the demo's flags.
type options struct {
	bin     string        // where chairside and vitalsim are
	configs string        // the repository's configs folder
	speed   float64       // how much faster than life
	listen  string        // the embedded broker's address
	dir     string        // working folder; "" = a temporary one, removed at the end
	runFor  time.Duration // 0 = until Ctrl-C
	every   time.Duration // how often the view is printed

	stationListen string // the station's web address; busy: a free port
	terminal      bool   // the terminal nurse view (and its nurse) too
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := options{every: 5 * time.Second}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	exe, _ := os.Executable()
	fs.StringVar(&o.bin, "bin", filepath.Dir(exe), "`folder` holding the chairside and vitalsim binaries")
	fs.StringVar(&o.configs, "configs", "configs", "the repository's configs `folder` (protocol and scenarios)")
	fs.Float64Var(&o.speed, "speed", 10, "run scenarios and the session schedule `X` times faster than life (1..60)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:1883", "embedded MQTT broker `address`; a busy port falls back to a free one")
	fs.StringVar(&o.dir, "dir", "", "working `folder` for configs, stores and logs (default: a temporary one, removed at the end)")
	fs.StringVar(&o.stationListen, "station", "127.0.0.1:8080", "the nursing station's web `address`; a busy port falls back to a free one")
	fs.BoolVar(&o.terminal, "terminal", false, "also show the nurse's view in the terminal; it plays the nurse (starts and ends infusions, acknowledges alarms)")
	fs.DurationVar(&o.runFor, "for", 0, "stop after this `duration` (default: at Ctrl-C)")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitFlags
	}
	if *version {
		fmt.Fprintln(stdout, "demo", buildinfo.Version())
		return exitOK
	}
	if fs.NArg() > 0 || o.speed < 1 || o.speed > 60 {
		fmt.Fprintln(stderr, "demo: -speed must be between 1 and 60, and no arguments are taken")
		return exitFlags
	}
	// The parts run in their chairs' folders: every path must be absolute.
	for _, p := range []*string{&o.bin, &o.configs} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			fmt.Fprintf(stderr, "demo: %v\n", err)
			return exitFlags
		}
		*p = abs
	}
	for _, name := range []string{"chairside", "vitalsim", "station"} {
		if _, err := os.Stat(filepath.Join(o.bin, name)); err != nil {
			fmt.Fprintf(stderr, "demo: %s not found in -bin %s (make build puts it in bin/): %v\n", name, o.bin, err)
			return exitFlags
		}
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if o.runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.runFor)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := demo(ctx, o, &stdoutGone{w: stdout, stop: cancel}, log); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return exitRuntime
	}
	return exitOK
}
