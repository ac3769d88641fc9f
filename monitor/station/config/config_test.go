package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor/station/web"
)

// The shipped configs/station.toml is valid (its users file and store do not
// exist on a build machine: warnings, not errors).
func TestShippedConfig(t *testing.T) {
	c, ps := Load(filepath.Join("..", "..", "..", "configs", "station.toml"))
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	if c.Name != "desk-1" || c.Listen != "127.0.0.1:8080" || c.OfflineAfter != 25*time.Second || c.Keep != 72*time.Hour ||
		len(c.Actions) != 7 || c.MQTT.Broker != "tcp://127.0.0.1:1883" || c.TopicPrefix != "chairside" {
		t.Fatalf("shipped config read as %+v", c)
	}
}

func write(t *testing.T, dir, name, text string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every problem is reported at once, naming its key.
func TestEveryProblemReported(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "users", "ann:not-a-hash\n", 0o644)
	p := write(t, dir, "station.toml", `
name = "Desk 1"
listen = "8080"
keep = "5m"
offline_after = "5s"
users_file = "users"
tls_cert_file = "cert.pem"
actions = ["ack", "dance"]
colour = "blue"
[mqtt]
broker = "http://x"
topic_prefix = "chairside"
`, 0o600)
	_, ps := Load(p)
	err := ps.Err()
	if err == nil {
		t.Fatal("a bad config passed")
	}
	for _, want := range []string{`name: "Desk 1" must be`, `listen: "8080" must be host:port`, "keep: is 5m0s",
		"offline_after: is 5s", "readable by other users", "not a bcrypt hash", "tls_key_file go together",
		`"dance" is not an action`, "colour", "broker", "topic_prefix: belongs at the top level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
}

// Users added with SetUser are read back.
func TestUsersFile(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	if err := web.SetUser(users, "ann", "correct horse"); err != nil {
		t.Fatal(err)
	}
	p := write(t, dir, "station.toml", "name = \"desk-1\"\nusers_file = \"users\"\n[mqtt]\nbroker = \"tcp://127.0.0.1:1883\"\n", 0o600)
	c, ps := Load(p)
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Users["ann"]; !ok {
		t.Fatal("user ann not read")
	}
}
