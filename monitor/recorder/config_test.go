package recorder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
		{base + "[hl7]\ntarget = \"tcp://127.0.0.1:2575\"\nsending_application = \"" + strings.Repeat("A", 65) + "\"\n", "hl7.sending_application:"},
		{base + "[hl7]\ntarget = \"tcp://127.0.0.1:2575\"\nevery = \"5m\"\n", "hl7.every: is 5m0s; only 1m"},
		{base + "[hl7]\ntarget = \"tcp://127.0.0.1:2575\"\nminute_wait = \"1s\"\n", "hl7.minute_wait: is 1s"},
		{"database = \"sqlite:r.db\"\n", "mqtt: is required"},
	} {
		_, got := loadText(t, c.text)
		if !strings.Contains(got, c.want) {
			t.Errorf("config\n%s\nproblems:\n%s\nwant one naming %q", c.text, got, c.want)
		}
	}
}

func TestConfigResolvesAndShares(t *testing.T) {
	c, probs := loadText(t, "name = \"r1\"\ndatabase = \"sqlite:data/r.db\"\nshare_group = \"rec\"\n[mqtt]\nbroker = \"tcp://127.0.0.1:1883\"\ntopic_prefix = \"clinic/siteA\"\n[hl7]\ntarget = \"tcp://127.0.0.1:2575\"\nminute_wait = \"30s\"\n")
	if probs != "" {
		t.Fatalf("problems with a good [hl7]: %s", probs)
	}
	if c.HL7 == nil || c.HL7.MinuteWait != 30*time.Second || c.HL7.Every != time.Minute || c.HL7.HL7Config().Check() != nil ||
		c.HL7.HL7Config().SendingApplication != "CHAIRSIDE" {
		t.Fatalf("[hl7] read as %+v", c.HL7)
	}
	if c.Filter() != "$share/rec/clinic/siteA/+/#" {
		t.Fatalf("filter %q", c.Filter())
	}
	if !strings.HasPrefix(c.Database, "sqlite:/") || !strings.HasSuffix(c.Database, "/data/r.db") {
		t.Fatalf("relative sqlite path not resolved against the config's folder: %q", c.Database)
	}
}

// The shipped config's [hl7] example, uncommented, is a good config.
func TestShippedHL7ExampleIsGood(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "configs", "recorder.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	inHL7 := false
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "# [hl7]") {
			inHL7 = true
		}
		if inHL7 && strings.HasPrefix(l, "# ") {
			l = strings.TrimPrefix(l, "# ")
		} else {
			inHL7 = false
		}
		lines = append(lines, l)
	}
	text := strings.Join(lines, "\n")
	c, probs := loadText(t, strings.Replace(text, "/var/lib/chairside-recorder/records.db", "r.db", 1))
	if probs != "" || c.HL7 == nil || c.HL7.Target != "tcp://127.0.0.1:2575" || c.HL7.MinuteWait != 2*time.Minute {
		t.Fatalf("the shipped [hl7] example: %s\n%+v", probs, c.HL7)
	}
}
