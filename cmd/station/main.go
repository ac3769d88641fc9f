// Command station is the nursing station: it subscribes to every chair,
// keeps their state, trends and alarm history, adds its own technical
// alarms, and serves the dashboard page and its API (CONTRACT §5).
//
//	station -config FILE                  run the station
//	station -check -config FILE           check the config, exit 0 or 2
//	station -passwd NAME -users-file FILE add or change a user (password twice on stdin)
//	station -version
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/chairside/chairside/cmd/internal/buildinfo"
	"github.com/chairside/chairside/cmd/internal/cli"
	"github.com/chairside/chairside/monitor/station/config"
	stationpage "github.com/chairside/chairside/monitor/station/page"
	"github.com/chairside/chairside/monitor/station/service"
	"github.com/chairside/chairside/monitor/station/web"
	sd "github.com/coreos/go-systemd/v22/daemon"
)

// Exit codes (CONTRACT §1).
const (
	exitOK      = 0
	exitRuntime = 1
	exitConfig  = 2
)

// page is the web page served beside the API (monitor/station/page).
var page http.Handler = stationpage.Handler()

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("station", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration `file`")
	check := fs.Bool("check", false, "check the configuration, print every problem, and exit")
	passwd := fs.String("passwd", "", "add or change user `NAME` (password twice on standard input) in -users-file")
	usersFile := fs.String("users-file", "", "with -passwd: the users `file` (name:bcrypt-hash lines)")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "station: unexpected arguments %q\n", fs.Args())
		return exitConfig
	}
	switch {
	case *version:
		fmt.Fprintln(stdout, "station", buildinfo.Version())
		return exitOK
	case *passwd != "" || *usersFile != "":
		return setPassword(*passwd, *usersFile, stdin, stdout, stderr)
	case *check:
		_, ps := config.Load(*cfgPath)
		return cli.Check(*cfgPath, ps, stdout)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	cfg, ps := config.Load(*cfgPath)
	if err := ps.Err(); err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	log := cli.Logger(stderr)
	for _, p := range ps.List { // warnings
		log.Warn("config", "problem", p.String())
	}
	err := service.Run(ctx, service.Options{Config: cfg, Page: page, Logger: log,
		Ready: func() { _, _ = sd.SdNotify(false, sd.SdNotifyReady+"\nSTATUS=started, waiting for the chairs") },
		Alive: systemdAlive()})
	_, _ = sd.SdNotify(false, sd.SdNotifyStopping)
	if err != nil {
		log.Error("station failed", "err", err)
		return exitRuntime
	}
	return exitOK
}

// systemdAlive pings the systemd watchdog (the service calls it only while
// its timers and its push to the pages turn) and keeps STATUS= current.
// Outside systemd (no NOTIFY_SOCKET) every call is a no-op.
func systemdAlive() func(status string) {
	var last string
	return func(status string) {
		_, _ = sd.SdNotify(false, sd.SdNotifyWatchdog)
		if status != last {
			last = status
			_, _ = sd.SdNotify(false, "STATUS="+status)
		}
	}
}

// setPassword reads the password twice from stdin (one line each; a
// terminal's echo is turned off meanwhile) and stores its bcrypt hash.
func setPassword(name, file string, stdin io.Reader, stdout, stderr io.Writer) int {
	if name == "" || file == "" {
		fmt.Fprintln(stderr, "station: -passwd NAME and -users-file FILE go together")
		return exitConfig
	}
	restore := noEcho(stdin)
	defer restore()
	in := bufio.NewReader(stdin)
	read := func(prompt string) (string, error) {
		fmt.Fprint(stderr, prompt)
		line, err := in.ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", errors.New("no password on standard input")
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	pw, err := read("password for " + name + ": ")
	if err == nil {
		var again string
		again, err = read("again: ")
		if err == nil && again != pw {
			err = errors.New("the two passwords differ")
		}
	}
	if err == nil {
		err = web.CheckPassword(pw)
	}
	if err == nil {
		err = web.SetUser(file, name, pw)
	}
	if err != nil {
		fmt.Fprintf(stderr, "\nstation: %v; users file unchanged\n", err)
		return exitConfig
	}
	fmt.Fprintf(stdout, "\nuser %s set in %s\n", name, file)
	return exitOK
}
