package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/chairside/chairside/monitor/station/web"
)

// demoUser is the station user the demo makes; its password is new each
// run and printed with the URL.
const demoUser = "nurse"

// demoStation is the nursing station of the demo, on the demo's broker.
type demoStation struct {
	cmd      *exec.Cmd
	url      string
	password string
}

// startStation runs the station binary (from -bin) on the demo's broker,
// with a users file holding demoUser and a fresh password, and waits until
// its page answers and it has reached the broker. It starts before the
// chairs, so its subscription is in place before their first retained
// messages.
func startStation(o options, dir, broker string, exited chan<- string) (*demoStation, error) {
	sdir := filepath.Join(dir, "station")
	if err := os.MkdirAll(sdir, 0o700); err != nil {
		return nil, err
	}
	pw := make([]byte, 8)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	password := hex.EncodeToString(pw)
	if err := web.SetUser(filepath.Join(sdir, "users"), demoUser, password); err != nil {
		return nil, fmt.Errorf("station users file: %w", err)
	}
	listen, err := freeOr(o.stationListen)
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(sdir, "station.toml")
	text := fmt.Sprintf(`# Written by the demo: the nursing station on the demo's broker.
name = "demo"
listen = %q
store_dir = "store"
keep = "1h"
users_file = "users"
offline_after = "25s"

[mqtt]
broker = %q
`, listen, broker)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return nil, err
	}
	cmd, err := start(sdir, "station", exited, filepath.Join(o.bin, "station"), "-config", cfg)
	if err != nil {
		return nil, err
	}
	url := "http://" + listen + "/"
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		// healthz is 200 once the station's broker connection is up.
		if r, err := http.Get(url + "healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			log, _ := os.ReadFile(filepath.Join(sdir, "station.log"))
			return nil, fmt.Errorf("the station did not answer with a broker connection at %shealthz within 15 s:\n%s", url, log)
		}
	}
	return &demoStation{cmd: cmd, url: url, password: password}, nil
}

// freeOr gives addr if it can be listened on now, else a free port on its
// host (a second demo, or a station already on 8080).
func freeOr(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		host, _, splitErr := net.SplitHostPort(addr)
		if splitErr != nil {
			return "", fmt.Errorf("-station %q: %w", addr, splitErr)
		}
		if ln, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
			return "", fmt.Errorf("-station %q: %w", addr, err)
		}
	}
	a := ln.Addr().String()
	ln.Close()
	return a, nil
}

func (s *demoStation) banner(out io.Writer) {
	fmt.Fprintf(out, "nursing station: %s  (sign in as %s, password %s)\n", s.url, demoUser, s.password)
}

// follow stands in for the terminal view: every `every` one line of what
// the station shows (chairs online, the alarms that want a response),
// until ctx ends or a part ends by itself.
func (s *demoStation) follow(ctx context.Context, every time.Duration, out io.Writer, exited <-chan string) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "\nstopping: the station, then the daemons (NIBP aborted, state offline), the emulators and the broker")
			return nil
		case msg := <-exited:
			return errors.New(msg)
		case <-tick.C:
		}
		line, err := s.summary(ctx)
		if err != nil {
			line = "station: " + err.Error()
		}
		fmt.Fprintf(out, "%s  %s\n", time.Now().Format("15:04:05"), line)
	}
}

// summary is one line of the station's /api/chairs.
func (s *demoStation) summary(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"api/chairs", nil)
	if err != nil {
		return "", err
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer r.Body.Close()
	var all struct {
		Station struct {
			BrokerConnected bool `json:"broker_connected"`
		} `json:"station"`
		Chairs []struct {
			Chair  string `json:"chair"`
			Online bool   `json:"online"`
			Phase  string `json:"phase"`
			Alarms []struct {
				Priority string `json:"priority"`
				State    string `json:"state"`
				Message  string `json:"message"`
			} `json:"alarms"`
			StationAlarms []struct {
				Priority string `json:"priority"`
				Message  string `json:"message"`
			} `json:"station_alarms"`
		} `json:"chairs"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&all); err != nil {
		return "", fmt.Errorf("/api/chairs: %w", err)
	}
	online := 0
	var alarms []string
	for _, c := range all.Chairs {
		if c.Online {
			online++
		}
		for _, a := range c.Alarms {
			if (a.State == "active" || a.State == "latched") && rank(a.Priority) >= rank("medium") {
				alarms = append(alarms, fmt.Sprintf("%s %s %s", c.Chair, strings.ToUpper(a.Priority), a.Message))
			}
		}
		for _, a := range c.StationAlarms {
			if rank(a.Priority) >= rank("medium") {
				alarms = append(alarms, fmt.Sprintf("%s %s %s", c.Chair, strings.ToUpper(a.Priority), a.Message))
			}
		}
	}
	sort.Strings(alarms)
	line := fmt.Sprintf("%d of %d chairs online", online, len(all.Chairs))
	if !all.Station.BrokerConnected {
		line += "; the station has NO broker connection"
	}
	if len(alarms) == 0 {
		return line + "; no medium or high alarm", nil
	}
	return line + "; " + strings.Join(alarms, "; "), nil
}
