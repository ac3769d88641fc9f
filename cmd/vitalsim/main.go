// Command vitalsim emulates chairside's sensors byte for byte, following a
// scenario, for tests and demos: a Nonin or a CMS50 pulse oximeter and a
// SunTech NIBP module, each on a pseudo-terminal (with a symlink to it, as
// udev makes /dev/serial/by-id links) or on a real serial port.
//
//	vitalsim -scenario FILE [-nonin DEV] [-nonin-format 2|7|8] [-cms50 DEV]
//	         [-cms50-protocol live9|legacy] [-suntech DEV] [-speed X]
//	vitalsim -version
//
// DEV is pty:PATH or serial:DEVICE. -speed runs the scenario's timeline X
// times faster while frames keep their real rate. Logs are JSON lines on
// stderr; SIGTERM or SIGINT stops it (the pty links are removed). Exit codes:
// 0 ok, 1 runtime failure, 2 bad flags or scenario (every problem printed).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/chairside/chairside/cmd/internal/buildinfo"
	"github.com/chairside/chairside/drivers/sim"
	"github.com/chairside/chairside/monitor/tomlcheck"
)

// Exit codes (CONTRACT §1).
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is vitalsim without the process around it: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, errHelp):
		return exitOK
	case err != nil:
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(stderr, "vitalsim:", line)
		}
		return exitUsage
	case o.version:
		fmt.Fprintln(stdout, "vitalsim", buildinfo.Version())
		return exitOK
	}
	var ps tomlcheck.Problems
	sc := sim.Load(o.scenario, &ps)
	for _, p := range ps.List {
		fmt.Fprintln(stderr, p.String())
	}
	if sc == nil {
		fmt.Fprintf(stderr, "%s: %d error(s)\n", o.scenario, ps.Errors())
		return exitUsage
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("program", "vitalsim")
	e, err := newEmulator(o, sc, log)
	if err != nil {
		log.Error("cannot build the device models", "err", err)
		return exitRuntime
	}
	return e.run(ctx)
}
