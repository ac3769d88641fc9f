package mqttlink

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
)

func TestTLS(t *testing.T) {
	pki := brokertest.NewPKI(t)
	t.Run("mochi", func(t *testing.T) {
		b := startMochi(t, pki.ServerTLS)
		testTLS(t, pki, b.url())
	})
	t.Run("mochi mutual TLS", func(t *testing.T) {
		pool := x509.NewCertPool()
		ca, err := os.ReadFile(pki.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(ca)
		srv := pki.ServerTLS.Clone()
		srv.ClientAuth, srv.ClientCAs = tls.RequireAndVerifyClientCert, pool
		b := startMochi(t, srv)

		cfg := baseConfig(t, b.url())
		cfg.CAFile, cfg.CertFile, cfg.KeyFile = pki.CAFile, pki.ClientCert, pki.ClientKey
		l := runLink(t, cfg)
		waitUp(t, l.Link)

		// Without the client certificate the broker refuses the handshake.
		cfg = baseConfig(t, b.url())
		cfg.CAFile = pki.CAFile
		l = runLink(t, cfg)
		eventually(t, "a handshake error", func() bool { return l.LastError() != nil })
		if l.Up() {
			t.Fatal("connected without a client certificate")
		}
	})
	t.Run("mosquitto", func(t *testing.T) {
		m := brokertest.StartMosquitto(t)
		testTLS(t, m.PKI, m.TLSURL())
	})
}

func testTLS(t *testing.T, pki *brokertest.PKI, url string) {
	good := baseConfig(t, url)
	good.CAFile = pki.CAFile
	l := runLink(t, good)
	waitUp(t, l.Link)
	d := newDone(t)
	l.Publish("chairside/chair-t/alarm", 1, false, []byte("over TLS"), d.fn)
	if err := d.wait(t); err != nil {
		t.Fatalf("publish over TLS: done(%v)", err)
	}

	wrong := baseConfig(t, url)
	wrong.CAFile = pki.WrongCAFile
	w := runLink(t, wrong)
	eventually(t, "a TLS error", func() bool { return w.LastError() != nil })
	msg := w.LastError().Error()
	for _, want := range []string{"TLS", "not signed by the CA in ca_file " + pki.WrongCAFile} {
		if !strings.Contains(msg, want) {
			t.Fatalf("error %q does not say %q", msg, want)
		}
	}
	// It keeps trying (the clinic may fix the CA file or the broker).
	before := w.Stats().Attempts
	eventually(t, "more attempts", func() bool { return w.Stats().Attempts >= before+2 })
	if w.Up() {
		t.Fatal("connected with the wrong CA")
	}
}

func TestUsernamePassword(t *testing.T) {
	t.Run("mochi", func(t *testing.T) {
		b := startMochi(t, nil)
		b.hook.setUsers(map[string]string{"chair-ok": "ok-secret"})
		testLogin(t, b.url())
	})
	t.Run("mosquitto", func(t *testing.T) {
		m := brokertest.StartMosquitto(t)
		testLogin(t, m.AuthURL())
	})
}

func testLogin(t *testing.T, url string) {
	good := baseConfig(t, url)
	good.Username, good.Password = "chair-ok", "ok-secret"
	l := runLink(t, good)
	waitUp(t, l.Link)

	bad := baseConfig(t, url)
	logger, logs := testLogger(t)
	bad.Logger = logger
	bad.Username, bad.Password = "chair-ok", "wrong-secret"
	w := runLink(t, bad)
	eventually(t, "a login error", func() bool { return w.LastError() != nil })
	msg := w.LastError().Error()
	if !strings.Contains(msg, `refused the login of user "chair-ok"`) {
		t.Fatalf("error %q does not name the login problem", msg)
	}
	before := w.Stats().Attempts
	eventually(t, "more attempts", func() bool { return w.Stats().Attempts >= before+2 })
	if w.Up() {
		t.Fatal("connected with a wrong password")
	}
	w.stop(t)
	time.Sleep(10 * time.Millisecond)
	if s := logs.String(); strings.Contains(s, "wrong-secret") || !strings.Contains(s, "refused the login") {
		t.Fatalf("log leaks the password or misses the reason:\n%s", s)
	}
}
