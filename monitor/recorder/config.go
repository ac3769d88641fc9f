package recorder

import (
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chairside/chairside/monitor/archive"
	"github.com/chairside/chairside/monitor/config"
	"github.com/chairside/chairside/monitor/hl7"
	"github.com/chairside/chairside/monitor/tomlcheck"
)

// DefaultConfigPath is where the recorder looks without -config.
const DefaultConfigPath = "/etc/chairside/recorder.toml"

// Config is the recorder's configuration (CONTRACT §7). Unknown keys are
// errors; secrets are named by file, never written in it.
type Config struct {
	File         string
	Name         string // MQTT client id recorder-<name>
	TopicPrefix  string
	Database     string // sqlite:/path (relative paths resolved against the config's folder) or postgres://...
	PasswordFile string // the database password
	ShareGroup   string
	MQTT         config.MQTT
	HL7          *HL7 // nil without [hl7]
	Ingest       IngestConfig
}

// HL7 is the [hl7] table: live forwarding over MLLP (monitor/forward).
type HL7 struct {
	Target                                  string
	SendingApplication, SendingFacility     string
	ReceivingApplication, ReceivingFacility string
	// Every is the medians' period: one minute (the only one supported:
	// control ids and OBR times name UTC minutes).
	Every time.Duration
	// MinuteWait (an extension of CONTRACT §7) is how long after a
	// minute's last stored record its message goes when the minute cannot
	// be proven complete (the session ended, records were lost).
	MinuteWait time.Duration
}

// DefaultHL7 is [hl7] with every key but target left out (the header
// names `recorder export -format hl7` uses without [hl7]).
func DefaultHL7() *HL7 {
	return &HL7{SendingApplication: "CHAIRSIDE", SendingFacility: "CLINIC", ReceivingApplication: "EHR", ReceivingFacility: "CLINIC",
		Every: time.Minute, MinuteWait: 2 * time.Minute}
}

// HL7Config is the message header part of [hl7].
func (h *HL7) HL7Config() hl7.Config {
	return hl7.Config{SendingApplication: h.SendingApplication, SendingFacility: h.SendingFacility,
		ReceivingApplication: h.ReceivingApplication, ReceivingFacility: h.ReceivingFacility}
}

// IngestConfig is the optional [ingest] table (an extension of §7).
type IngestConfig struct {
	BatchMax     int // messages per transaction at most (default 2000)
	Queue        int // messages waiting for the writer at most (default 4096)
	MaxPayload   int // bytes; larger messages are rejected (default 262144)
	RejectedKeep int // rejected messages kept (default 10000)
}

var (
	namePattern  = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
	groupPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// ClientID is the MQTT client id (CONTRACT §1).
func (c *Config) ClientID() string { return "recorder-" + c.Name }

// Filter is the subscription: <prefix>/+/# or $share/<group>/<prefix>/+/#.
func (c *Config) Filter() string {
	f := c.TopicPrefix + "/+/#"
	if c.ShareGroup != "" {
		f = "$share/" + c.ShareGroup + "/" + f
	}
	return f
}

// LoadConfig reads and checks the file; the config is only safe to use
// when the problems hold no error.
func LoadConfig(path string) (*Config, *tomlcheck.Problems) {
	ps := &tomlcheck.Problems{}
	t := tomlcheck.Load(path, ps)
	if t == nil {
		return nil, ps
	}
	c := &Config{File: path}
	c.read(t)
	return c, ps
}

func (c *Config) read(t *tomlcheck.Table) {
	if s, ok := t.String("name"); ok || !t.Has("name") {
		c.Name = s
		if !namePattern.MatchString(s) {
			t.Problem("name", "%q must be 1 to 32 of a-z, 0-9 and - (the MQTT client id is recorder-<name>)", s)
		}
	}
	c.MQTT = config.ReadMQTT(t)
	c.TopicPrefix = c.MQTT.TopicPrefix
	if s, ok := t.String("topic_prefix"); ok {
		if m, _ := t.Table("mqtt"); m != nil && m.Has("topic_prefix") && s != c.MQTT.TopicPrefix {
			t.Problem("topic_prefix", "%q differs from [mqtt] topic_prefix %q: give it once", s, c.MQTT.TopicPrefix)
		}
		c.TopicPrefix = s
		if s == "" || strings.ContainsAny(s, "+#") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.HasPrefix(s, "$") {
			t.Problem("topic_prefix", "%q must be non-empty, without + # or a leading $, and not start or end with /", s)
		}
	}
	if s, ok := t.String("database"); ok {
		if p, isSQLite := strings.CutPrefix(s, "sqlite:"); isSQLite && p != "" && !filepath.IsAbs(p) {
			s = "sqlite:" + filepath.Join(filepath.Dir(c.File), p)
		}
		c.Database = s
		if err := archive.CheckDSN(s); err != nil {
			t.Problem("database", "%v", err)
		}
	} else if !t.Has("database") {
		t.Problem("database", "is required: sqlite:/var/lib/chairside-recorder/records.db or postgres://user@host:5432/db")
	}
	c.PasswordFile = config.ReadableFile(t, "password_file", true)
	if c.PasswordFile != "" && strings.HasPrefix(c.Database, "sqlite:") {
		t.Warn("password_file", "is set but the database is SQLite, which has no password")
	}
	if s, ok := t.String("share_group"); ok && s != "" {
		c.ShareGroup = s
		if !groupPattern.MatchString(s) {
			t.Problem("share_group", "%q must be 1 to 64 of A-Z, a-z, 0-9, _ and -", s)
		}
	}
	c.readHL7(t)
	c.readIngest(t)
	t.Done()
}

func (c *Config) readHL7(t *tomlcheck.Table) {
	h, present := t.Table("hl7")
	if !present {
		return
	}
	c.HL7 = DefaultHL7()
	if s, ok := h.String("target"); ok {
		c.HL7.Target = s
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "tcp" || u.Path != "" || u.User != nil {
			h.Problem("target", "%q must be tcp://host:port (MLLP)", s)
		} else if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
			h.Problem("target", "%q needs a host and a port, as in tcp://127.0.0.1:2575", s)
		}
	} else if !h.Has("target") {
		h.Problem("target", "is required in [hl7]: tcp://host:port of the MLLP receiver")
	}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"sending_application", &c.HL7.SendingApplication}, {"sending_facility", &c.HL7.SendingFacility},
		{"receiving_application", &c.HL7.ReceivingApplication}, {"receiving_facility", &c.HL7.ReceivingFacility},
	} {
		if s, ok := h.String(f.key); ok {
			*f.dst = s
			if s == "" || utf8.RuneCountInString(s) > 64 || strings.ContainsAny(s, "|^~\\&") ||
				strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
				h.Problem(f.key, "%q must be 1 to 64 characters without HL7 delimiters | ^ ~ \\ & or control characters", s)
			}
		}
	}
	if d, ok := h.Duration("every"); ok {
		c.HL7.Every = d
		if d != time.Minute {
			h.Problem("every", "is %v; only 1m is supported: each message carries one UTC minute's SpO2 and pulse medians", d)
		}
	}
	if d, ok := h.Duration("minute_wait"); ok {
		c.HL7.MinuteWait = d
		if d < 10*time.Second || d > time.Hour {
			h.Problem("minute_wait", "is %v; give 10s to 1h", d)
		}
	}
	h.Done()
}

func (c *Config) readIngest(t *tomlcheck.Table) {
	c.Ingest = IngestConfig{BatchMax: 2000, Queue: 4096, MaxPayload: DefaultMaxPayload, RejectedKeep: archive.DefaultRejectedKeep}
	in, _ := t.Table("ingest")
	for _, f := range []struct {
		key      string
		dst      *int
		min, max int64
	}{
		{"batch_max", &c.Ingest.BatchMax, 1, 100000},
		{"queue", &c.Ingest.Queue, 1, 1000000},
		{"max_payload", &c.Ingest.MaxPayload, 1024, 16 << 20},
		{"rejected_keep", &c.Ingest.RejectedKeep, 1, 10000000},
	} {
		if v, ok := in.Int(f.key); ok {
			if v < f.min || v > f.max {
				in.Problem(f.key, "is %d; give %d to %d", v, f.min, f.max)
				continue
			}
			*f.dst = int(v)
		}
	}
	in.Done()
}
