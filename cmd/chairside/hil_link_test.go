package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
)

// waitLog waits until the daemon's log holds every one of want.
func (be *bench) waitLog(timeout time.Duration, what string, want ...string) {
	be.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		log := be.log()
		missing := ""
		for _, w := range want {
			if !strings.Contains(log, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			be.t.Fatalf("timed out after %v waiting for %s: the log lacks %q\n%s", timeout, what, missing, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TLS to a real mosquitto: with the wrong CA the daemon says so clearly and
// keeps trying; with the clinic's CA it connects and publishes.
func TestHILTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("hardware-in-the-loop test")
	}
	m := brokertest.StartMosquitto(t)
	rec := subscribeAs(t, m.PlainURL(), "records-tls", "", "")
	be := newBench(t, &testBroker{t: t, mq: m})

	be.configure(fmt.Sprintf("broker = %q\nca_file = %q\nkeepalive = \"2s\"\n", m.TLSURL(), m.PKI.WrongCAFile))
	be.start()
	be.waitLog(20*time.Second, "a clear TLS error",
		"not signed by the CA in ca_file "+m.PKI.WrongCAFile)
	if code, _ := be.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d after a TLS failure; want a clean stop", code)
	}

	be.configure(fmt.Sprintf("broker = %q\nca_file = %q\nkeepalive = \"2s\"\n", m.TLSURL(), m.PKI.CAFile))
	be.start()
	rec.waitFor(t, "state online over TLS", "/state", 15*time.Second, func(v map[string]any) bool { return v["online"] == true })
	rec.waitFor(t, "vitals over TLS", "/vitals/spo2", 15*time.Second, func(v map[string]any) bool { return num(v["value"]) == 97 })
	if code, _ := be.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// The shipped ACL (configs/mosquitto/chairside.acl) on a real mosquitto:
// the chair publishes under its root and takes commands from the station,
// the records system reads but cannot command. Then an ACL that silently
// drops the chair's publishes: link_down within 30 s, seen at the chair.
func TestHILShippedACLAndSilentDrop(t *testing.T) {
	if testing.Short() {
		t.Skip("hardware-in-the-loop test")
	}
	acl, err := os.ReadFile(filepath.Join("..", "..", "configs", "mosquitto", "chairside.acl"))
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]string{"chair-07": "chair-secret", "station-1": "station-secret", "records": "records-secret"}
	m := brokertest.StartMosquittoWith(t, brokertest.MosquittoOptions{Users: users, ACL: string(acl)})
	records := subscribeAs(t, m.AuthURL(), "records-1", "records", users["records"])
	station := subscribeAs(t, m.AuthURL(), "station-1", "station-1", users["station-1"])
	be := newBench(t, &testBroker{t: t, mq: m})
	pw := be.write("mqtt.password", users["chair-07"]+"\n")
	be.configure(fmt.Sprintf("broker = %q\nusername = \"chair-07\"\npassword_file = %q\nkeepalive = \"2s\"\n", m.AuthURL(), pw))
	be.start()
	defer func() {
		if t.Failed() {
			t.Logf("chairside log:\n%s\nbroker log:\n%s", be.log(), m.Log())
		}
	}()
	const root = "chairside/chair-07/"
	records.waitFor(t, "state online, read by the records system", "/state", 15*time.Second, func(v map[string]any) bool { return v["online"] == true })
	records.waitFor(t, "vitals, read by the records system", "/vitals/spo2", 15*time.Second, func(v map[string]any) bool { return num(v["value"]) == 97 })

	station.publish(t, root+"cmd", cmd("mark-1", "mark", map[string]any{"note": "from the station"}))
	records.waitFor(t, "the station's command answered", "/cmd/reply", 10*time.Second, func(v map[string]any) bool {
		return v["id"] == "mark-1" && v["ok"] == true
	})
	from := records.count()
	records.publish(t, root+"cmd", cmd("mark-2", "mark", map[string]any{"note": "from the records system"}))
	station.publish(t, root+"cmd", cmd("mark-3", "mark", map[string]any{"note": "after it"}))
	records.waitForFrom(t, from, "the later station command answered", "/cmd/reply", 10*time.Second, func(v map[string]any) bool { return v["id"] == "mark-3" })
	for _, r := range records.since(from) {
		if strings.HasSuffix(r.topic, "/cmd/reply") && r.v["id"] == "mark-2" {
			t.Fatal("a command from the read-only records user reached the chair")
		}
	}
	if strings.Contains(be.log(), `"down":true`) {
		t.Fatal("link_down while the shipped ACL lets the heartbeat come back")
	}

	// The clinic breaks the ACL: the chair may read but not write. Mosquitto
	// acknowledges and drops its publishes; only the heartbeat echo shows it.
	m.WriteACL(strings.Replace(string(acl), "pattern write chairside/%u/#\n", "", 1))
	m.Reload()
	broken := time.Now()
	be.waitLog(40*time.Second, "link_down at the chair", `"down":true`, "ACL", `"condition":"link_down"`)
	if el := time.Since(broken); el > 35*time.Second {
		t.Fatalf("link_down %v after the ACL broke; want within 30 s of the last echo", el)
	}

	// The clinic fixes the ACL. Everything the broker acknowledged and
	// dropped meanwhile reaches the records system, link_down's own start
	// among it (it was published into the void), and the stream has no gap.
	_, maxBefore, _ := seqGaps(t, records)
	m.WriteACL(string(acl))
	m.Reload()
	records.waitFor(t, "link_down's start, published while dropped, resent", "/alarm", 60*time.Second, func(v map[string]any) bool {
		return v["condition"] == "link_down" && v["phase"] == "start"
	})
	records.waitFor(t, "link_down's end", "/alarm", 30*time.Second, func(v map[string]any) bool {
		return v["condition"] == "link_down" && v["phase"] == "end"
	})
	var missing []float64
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var max float64
		missing, max, _ = seqGaps(t, records)
		if len(missing) == 0 && max > maxBefore {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("60 s after the ACL was fixed: %d seqs of 1..%v never reached the records system: %v", len(missing), max, head(missing))
		}
	}
	if code, _ := be.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	missing, max, _ := seqGaps(t, records)
	if len(missing) > 0 {
		t.Fatalf("after the stop: %d seqs of 1..%v missing: %v", len(missing), max, head(missing))
	}
	t.Logf("seqs 1..%v all delivered across the dropping ACL (%v before the fix)", max, maxBefore)
}

// SIGTERM at any moment of the start once signals are handled (sensors opening, the NIBP module's
// handshake, the first connect) ends the daemon cleanly within 5 s.
func TestHILStopDuringStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("hardware-in-the-loop test")
	}
	b := startBroker(t)
	be := newBench(t, b)
	defer func() {
		if t.Failed() {
			t.Logf("chairside log:\n%s", be.log())
		}
	}()
	for _, after := range []time.Duration{0, 10 * time.Millisecond, 30 * time.Millisecond, 60 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond} {
		logged := len(be.log())
		be.start()
		// Its first log line follows the config's loading; signals are
		// handled from before it.
		for deadline := time.Now().Add(10 * time.Second); len(be.log()) == logged; {
			if time.Now().After(deadline) {
				t.Fatal("chairside logged nothing within 10 s of its start")
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(after)
		code, took := be.stop(syscall.SIGTERM)
		if code != 0 || took > 5*time.Second {
			t.Fatalf("SIGTERM %v after the start: exit %d after %v (want 0 within 5 s)", after, code, took)
		}
	}
}

// systemd's notify protocol: READY once running, STATUS with the session
// and the broker, WATCHDOG pings from the engine loop, STOPPING at SIGTERM.
func TestHILSystemdNotify(t *testing.T) {
	if testing.Short() {
		t.Skip("hardware-in-the-loop test")
	}
	b := startBroker(t)
	be := newBench(t, b)
	sock := filepath.Join(be.dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := make(chan string, 256)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				close(got)
				return
			}
			got <- string(buf[:n])
		}
	}()
	be.env = []string{"NOTIFY_SOCKET=" + sock}
	be.start()
	seen := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for !(seen["READY=1"] && seen["WATCHDOG=1"] && seen["STATUS=session"]) {
		select {
		case m := <-got:
			for _, k := range []string{"READY=1", "WATCHDOG=1"} {
				seen[k] = seen[k] || m == k
			}
			if strings.HasPrefix(m, "STATUS=session s-") && strings.Contains(m, "baseline; broker connected") {
				seen["STATUS=session"] = true
			}
		case <-deadline:
			t.Fatalf("after 20 s the daemon has sent %v; want READY=1, WATCHDOG=1 and a STATUS with the session\n%s", seen, be.log())
		}
	}
	if code, _ := be.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for timeout := time.After(2 * time.Second); ; {
		select {
		case m := <-got:
			if m == "STOPPING=1" {
				return
			}
		case <-timeout:
			t.Fatal("no STOPPING=1 at SIGTERM")
		}
	}
}
