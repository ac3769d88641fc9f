package mqttlink

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/mqttlink/brokertest"
)

func TestNewRefusesBadConfig(t *testing.T) {
	pki := brokertest.NewPKI(t)
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := Config{Broker: "tcp://127.0.0.1:1883", ClientID: "chairside-chair-03"}
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no broker", func(c *Config) { c.Broker = "" }, "broker is empty"},
		{"bad scheme", func(c *Config) { c.Broker = "mqtt://127.0.0.1:1883" }, "tcp:// or ssl://"},
		{"no port", func(c *Config) { c.Broker = "tcp://127.0.0.1" }, "give host and port"},
		{"credentials in URL", func(c *Config) { c.Broker = "tcp://u:p@127.0.0.1:1883" }, "only scheme, host and port"},
		{"TLS files on tcp", func(c *Config) { c.CAFile = pki.CAFile }, "use ssl://"},
		{"no client id", func(c *Config) { c.ClientID = "" }, "client id is empty"},
		{"password without user", func(c *Config) { c.Password = "x" }, "without a username"},
		{"cert without key", func(c *Config) { c.Broker = "ssl://127.0.0.1:8883"; c.CertFile = pki.ClientCert }, "go together"},
		{"wildcard will", func(c *Config) { c.Will = &Message{Topic: "a/#"} }, "wildcard"},
		{"heartbeat func without topic", func(c *Config) { c.Heartbeat = func() []byte { return nil } }, "HeartbeatTopic is empty"},
		{"echo shorter than period", func(c *Config) {
			c.HeartbeatTopic, c.HeartbeatEvery, c.EchoTimeout = "a/state", time.Second, time.Second
		}, "must be longer"},
		{"sub-second keepalive", func(c *Config) { c.Keepalive = 500 * time.Millisecond }, "whole seconds"},
		{"negative duration", func(c *Config) { c.LinkDownAfter = -time.Second }, "link-down delay is negative"},
		{"in-flight too big", func(c *Config) { c.MaxInFlight = 70000 }, "max in-flight"},
		{"missing CA file", func(c *Config) { c.Broker = "ssl://127.0.0.1:8883"; c.CAFile = "/nonexistent/ca.crt" }, "ca_file: open /nonexistent/ca.crt"},
		{"CA file not PEM", func(c *Config) { c.Broker = "ssl://127.0.0.1:8883"; c.CAFile = notPEM }, "ca_file " + notPEM + ": no PEM certificate"},
		{"missing key file", func(c *Config) {
			c.Broker, c.CertFile, c.KeyFile = "ssl://127.0.0.1:8883", pki.ClientCert, "/nonexistent/client.key"
		}, "key_file: stat /nonexistent/client.key"},
		{"key does not match", func(c *Config) {
			c.Broker, c.CertFile, c.KeyFile = "ssl://127.0.0.1:8883", pki.ClientCert, pki.ServerKey
		}, "cert_file " + pki.ClientCert + " with key_file " + pki.ServerKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error %v; want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := New(good); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
}

func TestConfigLogValueHidesPassword(t *testing.T) {
	c := Config{Broker: "tcp://127.0.0.1:1883", ClientID: "x", Username: "u", Password: "hunter2"}
	if s := c.LogValue().String(); strings.Contains(s, "hunter2") || !strings.Contains(s, "password_set") {
		t.Fatalf("LogValue %s", s)
	}
}
