package recorder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestShippedConfigIsGood(t *testing.T) {
	c, ps := LoadConfig(filepath.Join("..", "..", "configs", "recorder.toml"))
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ps.List) != 0 {
		t.Fatalf("warnings: %v", ps.List)
	}
	if c.ClientID() != "recorder-records-1" || c.Filter() != "chairside/+/#" || c.Database != "sqlite:/var/lib/chairside-recorder/records.db" {
		t.Fatalf("%+v", c)
	}
	if c.MQTT.Broker != "tcp://127.0.0.1:1883" || c.Ingest.BatchMax != 2000 || c.HL7 != nil {
		t.Fatalf("%+v", c)
	}
}

func loadText(t *testing.T, text string) (*Config, string) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "r.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, ps := LoadConfig(p)
	var lines []string
	for _, pr := range ps.List {
		lines = append(lines, pr.String())
	}
	return c, strings.Join(lines, "\n")
}

func TestConfigProblemsNameTheKey(t *testing.T) {
	base := "name = \"r1\"\ndatabase = \"sqlite:r.db\"\n[mqtt]\nbroker = \"tcp://127.0.0.1:1883\"\n"
	for _, c := range []struct{ text, want string }{
		{base + "colour = 1\n", "colour"},
		{base + "[ingest]\nbatch = 3\n", "ingest.batch"},
		{base + "[ingest]\nbatch_max = 0\n", "ingest.batch_max: is 0"},
		{strings.Replace(base, `"r1"`, `"R 1"`, 1), "name:"},
		{strings.Replace(base, `sqlite:r.db`, `mysql://x`, 1), "database:"},
		{strings.Replace(base, `sqlite:r.db`, `postgres://u:pw@h/db`, 1), "password_file"},
		{base + "share_group = \"a/b\"\n", "share_group:"},
		{base + "topic_prefix = \"a/#\"\n", "topic_prefix:"},
		{base + "password_file = \"/nonexistent/pw\"\n", "password_file:"},
		{base + "[hl7]\ntarget = \"http://x\"\n", "hl7.target:"},
		{base + "[hl7]\ntarget = \"tcp://127.0.0.1:2575\"\nsending_facility = \"A|B\"\n", "hl7.sending_facility:"},
		{"database = \"sqlite:r.db\"\n", "mqtt: is required"},
	} {
		_, got := loadText(t, c.text)
		if !strings.Contains(got, c.want) {
			t.Errorf("config\n%s\nproblems:\n%s\nwant one naming %q", c.text, got, c.want)
		}
	}
}

func TestConfigResolvesAndShares(t *testing.T) {
	c, probs := loadText(t, "name = \"r1\"\ndatabase = \"sqlite:data/r.db\"\nshare_group = \"rec\"\n[mqtt]\nbroker = \"tcp://127.0.0.1:1883\"\ntopic_prefix = \"clinic/siteA\"\n[hl7]\ntarget = \"tcp://127.0.0.1:2575\"\n")
	if !strings.Contains(probs, "warning") || !strings.Contains(probs, "not in this build") {
		t.Fatalf("no warning that HL7 forwarding is missing: %s", probs)
	}
	if c.Filter() != "$share/rec/clinic/siteA/+/#" {
		t.Fatalf("filter %q", c.Filter())
	}
	if !strings.HasPrefix(c.Database, "sqlite:/") || !strings.HasSuffix(c.Database, "/data/r.db") {
		t.Fatalf("relative sqlite path not resolved against the config's folder: %q", c.Database)
	}
}
