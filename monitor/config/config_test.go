package config

import (
	"github.com/chairside/chairside/monitor/vitals"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/tomlcheck"
)

func TestShippedConfigIsGood(t *testing.T) {
	c, ps := Load(filepath.Join("..", "..", "configs", "chairside.toml"))
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	if c.Chair != "chair-03" || c.Protocol == nil || c.Protocol.Name != "ketamine-iv" {
		t.Fatalf("config = %+v", c)
	}
	if len(c.Sensors) != 2 || c.Sensors[0].Format != 2 || c.Sensors[1].StaleAfter != 30*time.Second {
		t.Fatalf("sensors = %+v", c.Sensors)
	}
	ec := c.Engine(3)
	if _, err := monitor.New(ec, time.Now()); err != nil {
		t.Fatalf("engine refuses the shipped config: %v", err)
	}
	if ec.Sensors[0].Roles != monitor.RoleOximeter || ec.Sensors[1].Roles != monitor.RoleNIBP {
		t.Fatalf("roles = %+v", ec.Sensors)
	}
}

// write puts a config and a minimal protocol in a temporary folder.
func write(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.toml"), []byte("name = \"p\"\n[[limit]]\ncondition = \"spo2_low\"\npriority = \"high\"\nbelow = 88\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const good = `chair = "chair-1"
protocol = "p.toml"
[mqtt]
broker = "tcp://127.0.0.1:1883"
[[sensor]]
driver = "nonin"
port = "/dev/null"
[[sensor]]
driver = "suntech"
port = "/dev/zero"
[annunciator]
kind = "none"
`

func TestMinimalConfigWarnsAboutNoAnnunciator(t *testing.T) {
	c, ps := Load(write(t, good))
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ps.List) != 1 || !strings.Contains(ps.List[0].String(), `warning: annunciator.kind: "none": the bedside neither sounds nor lights`) {
		t.Fatalf("problems = %v", ps.List)
	}
	if c.MQTT.TopicPrefix != "chairside" || c.MQTT.Keepalive != 10*time.Second || c.Store.Dir != "/var/lib/chairside" || c.Commands.MaxAge != 30*time.Second {
		t.Fatalf("defaults = %+v %+v %+v", c.MQTT, c.Store, c.Commands)
	}
	if strings.Join(c.Commands.Remote, ",") != strings.Join(DefaultRemote(), ",") {
		t.Fatalf("remote = %v", c.Commands.Remote)
	}
}

func TestConfigMistakesNameTheKey(t *testing.T) {
	cases := []struct{ name, from, to, want string }{
		{"bad chair", `chair = "chair-1"`, `chair = "Chair 1"`, `c.toml: chair: "Chair 1" must be 1 to 32 of a-z, 0-9 and -`},
		{"long chair", `chair = "chair-1"`, `chair = "` + strings.Repeat("a", 33) + `"`, `chair: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" must be 1 to 32`},
		{"unknown key", `chair = "chair-1"`, "chair = \"chair-1\"\ncolour = \"red\"", "c.toml: colour: unknown key"},
		{"wrong type", `broker = "tcp://127.0.0.1:1883"`, "broker = \"tcp://127.0.0.1:1883\"\nkeepalive = 10", `mqtt.keepalive: must be a duration string such as "90s" or "5m", not an integer`},
		{"bad duration", `broker = "tcp://127.0.0.1:1883"`, "broker = \"tcp://127.0.0.1:1883\"\nkeepalive = \"10 s\"", `mqtt.keepalive: "10 s" is not a duration`},
		{"bad broker", `tcp://127.0.0.1:1883`, `http://127.0.0.1`, `mqtt.broker: "http://127.0.0.1" must be tcp://host:port or ssl://host:port`},
		{"broker without port", `tcp://127.0.0.1:1883`, `tcp://127.0.0.1`, `mqtt.broker: "tcp://127.0.0.1" needs a port`},
		{"missing protocol file", `protocol = "p.toml"`, `protocol = "nope.toml"`, "c.toml: protocol: "},
		{"no protocol", `protocol = "p.toml"`, ``, "c.toml: protocol: is required"},
		{"sim without demo", `driver = "nonin"`, `driver = "sim"`, `sensor[1].driver: "sim" is not available in this build`},
		{"max30102 bad bus", "driver = \"nonin\"\nport = \"/dev/null\"", "driver = \"max30102\"\ni2c_bus = \"i2c-1\"", `sensor[1].i2c_bus: "i2c-1" is not an I2C bus`},
		{"max30102 bad address", "driver = \"nonin\"\nport = \"/dev/null\"", "driver = \"max30102\"\naddress = 0x80", `sensor[1].address: 0x80 is not a 7-bit I2C device address`},
		{"max30102 address as text", "driver = \"nonin\"\nport = \"/dev/null\"", "driver = \"max30102\"\naddress = \"0x57\"", `sensor[1].address: must be an integer`},
		{"max30102 with a port", "driver = \"nonin\"\nport = \"/dev/null\"", "driver = \"max30102\"\nport = \"/dev/null\"", `sensor[1].port: is not used by driver max30102`},
		{"i2c_bus on a serial driver", `port = "/dev/zero"`, "port = \"/dev/zero\"\ni2c_bus = \"1\"", `sensor[2].i2c_bus: is not used by driver suntech (only by max30102)`},
		{"address on a serial driver", `port = "/dev/zero"`, "port = \"/dev/zero\"\naddress = 0x57", `sensor[2].address: is not used by driver suntech (only by max30102)`},
		{"pin off the header", `kind = "none"`, "kind = \"gpio\"\nbuzzer = \"GPIO99\"\nred_led = \"GPIO23\"", `annunciator.buzzer: GPIO99 is not on the Raspberry Pi's 40-pin header`},
		{"pin not a name", `kind = "none"`, "kind = \"gpio\"\nbuzzer = \"18\"\nred_led = \"GPIO23\"", `annunciator.buzzer: "18" is not a pin name`},
		{"pin twice", `kind = "none"`, "kind = \"gpio\"\nbuzzer = \"GPIO23\"\nred_led = \"GPIO23\"", `annunciator.red_led: GPIO23 is also buzzer`},
		{"unknown driver", `driver = "nonin"`, `driver = "masimo"`, `sensor[1].driver: "masimo" is not a driver`},
		{"bad format", `port = "/dev/null"`, "port = \"/dev/null\"\nformat = 3", "sensor[1].format: 3 is not a Nonin data format"},
		{"format on wrong driver", `port = "/dev/zero"`, "port = \"/dev/zero\"\nformat = 2", "sensor[2].format: is not used by driver suntech (only by nonin)"},
		{"same port twice", `port = "/dev/zero"`, `port = "/dev/null"`, "sensor[2].port: /dev/null is also sensor 1's port"},
		{"no port", `port = "/dev/null"`, ``, "sensor[1].port: is required for driver nonin"},
		{"two oximeters", `driver = "suntech"`, `driver = "cms50"`, "c.toml: sensor: sensors 1, 2 are all oximeters; configure one"},
		{"no annunciator", "[annunciator]\nkind = \"none\"\n", "", "c.toml: annunciator: is required"},
		{"bad annunciator kind", `kind = "none"`, `kind = "lamp"`, `annunciator.kind: "lamp" must be "gpio" or "none"`},
		{"gpio without buzzer", `kind = "none"`, "kind = \"gpio\"\nred_led = \"GPIO23\"", `annunciator.buzzer: is required with kind = "gpio"`},
		{"unknown remote action", `kind = "none"`, "kind = \"none\"\n[commands]\nremote = [\"ack\", \"reboot\"]", `commands.remote: "reboot" is not an action`},
		{"password file missing", `broker = "tcp://127.0.0.1:1883"`, "broker = \"tcp://127.0.0.1:1883\"\nusername = \"u\"\npassword_file = \"secret\"", "mqtt.password_file: "},
		{"tls files with tcp", `broker = "tcp://127.0.0.1:1883"`, "broker = \"tcp://127.0.0.1:1883\"\nca_file = \"p.toml\"", `mqtt.broker: is "tcp://127.0.0.1:1883" but TLS files are set: use ssl://`},
		{"world-readable password", `broker = "tcp://127.0.0.1:1883"`, "broker = \"tcp://127.0.0.1:1883\"\nusername = \"u\"\npassword_file = \"p.toml\"", "p.toml is readable by other users (mode -rw-r--r--): chmod 600 it"},
		{"store dir is a file", `kind = "none"`, "kind = \"none\"\n[store]\ndir = \"p.toml\"", "p.toml is a file, not a folder"},
		{"cert without key", `broker = "tcp://127.0.0.1:1883"`, "broker = \"ssl://127.0.0.1:8883\"\ncert_file = \"p.toml\"", "mqtt.cert_file: and key_file go together"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := strings.Replace(good, c.from, c.to, 1)
			if text == good {
				t.Fatalf("test case did not change the config (%q)", c.from)
			}
			_, ps := Load(write(t, text))
			if ps.Errors() == 0 {
				t.Fatalf("no error; problems: %v", ps.List)
			}
			all := (&tomlcheck.Error{List: ps.List}).Error()
			if !strings.Contains(all, c.want) {
				t.Fatalf("problems do not contain %q:\n%s", c.want, all)
			}
		})
	}
}

// One mistake gives one line: a mistyped driver does not also make its port
// an unknown key, a key of another driver is not also a type error, and a
// mistyped annunciator kind does not make its pins unknown keys.
func TestOneMistakeOneLine(t *testing.T) {
	cases := []struct{ name, from, to string }{
		{"mistyped driver", `driver = "nonin"`, `driver = "nonni"`},
		{"format on another driver", `port = "/dev/zero"`, "port = \"/dev/zero\"\nformat = 2"},
		{"mistyped kind", `kind = "none"`, "kind = \"gpoi\"\nbuzzer = \"GPIO18\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := strings.Replace(good, c.from, c.to, 1)
			_, ps := Load(write(t, text))
			var lines []string
			for _, p := range ps.List {
				if !p.Warning {
					lines = append(lines, p.String())
				}
			}
			if len(lines) != 1 {
				t.Fatalf("want one error line, got %d:\n%s", len(lines), strings.Join(lines, "\n"))
			}
		})
	}
}

// Every problem is reported in one run, the protocol file's too.
func TestAllProblemsAtOnce(t *testing.T) {
	text := strings.NewReplacer(`chair = "chair-1"`, `chair = "X"`, `kind = "none"`, `kind = "horn"`, `driver = "nonin"`, `driver = "nonon"`).Replace(good)
	path := write(t, text)
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "p.toml"), []byte("name = \"p\"\nmin_nibp_gap = 30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, ps := Load(path)
	all := (&tomlcheck.Error{List: ps.List}).Error()
	for _, want := range []string{"c.toml: chair:", "c.toml: annunciator.kind:", "c.toml: sensor[1].driver:", "p.toml: min_nibp_gap:"} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
}

// A MAX30102 on the Pi's I2C bus is an oximeter whose values are flagged
// uncalibrated; the bus takes the forms periph and Linux name it, and the
// address defaults to the part's 0x57.
func TestMAX30102Sensor(t *testing.T) {
	for _, c := range []struct {
		keys, bus string
		addr      uint16
	}{
		{"", "1", 0x57},
		{"i2c_bus = \"/dev/i2c-3\"", "/dev/i2c-3", 0x57},
		{"i2c_bus = \"I2C1\"\naddress = 0x58", "I2C1", 0x58},
	} {
		text := strings.Replace(good, "driver = \"nonin\"\nport = \"/dev/null\"", "driver = \"max30102\"\n"+c.keys, 1)
		cfg, ps := Load(write(t, text))
		if err := ps.Err(); err != nil {
			t.Fatalf("%q: %v", c.keys, err)
		}
		s := cfg.Sensors[0]
		if s.Driver != "max30102" || s.I2CBus != c.bus || s.Address != c.addr {
			t.Fatalf("%q: sensor %+v, want bus %s address %#x", c.keys, s, c.bus, c.addr)
		}
		if f := cfg.Engine(1).Sensors[0].Flags; f != vitals.Uncalibrated {
			t.Fatalf("engine flags %v, want uncalibrated", f)
		}
	}
	// The button on the bus's SDA pin would break the bus.
	sda := strings.Replace(good, "driver = \"nonin\"\nport = \"/dev/null\"", "driver = \"max30102\"", 1)
	sda = strings.Replace(sda, "kind = \"none\"", "kind = \"gpio\"\nbuzzer = \"GPIO18\"\nred_led = \"GPIO23\"\nack_button = \"GPIO2\"", 1)
	if _, ps := Load(write(t, sda)); ps.Err() == nil || !strings.Contains(ps.Err().Error(), "annunciator.ack_button: GPIO2 is also SDA of I2C bus 1 of sensor 1 (max30102)") {
		t.Fatalf("button on SDA: %v", ps.Err())
	}
	// Two parts at one address of one bus cannot both answer.
	two := strings.Replace(good, "driver = \"suntech\"\nport = \"/dev/zero\"", "driver = \"max30102\"\ni2c_bus = \"/dev/i2c-1\"", 1)
	two = strings.Replace(two, "driver = \"nonin\"\nport = \"/dev/null\"", "driver = \"max30102\"", 1)
	_, ps := Load(write(t, two))
	if err := ps.Err(); err == nil || !strings.Contains(err.Error(), "sensor[2].address: 0x57 on I2C bus 1 is also sensor 1's") {
		t.Fatalf("two parts at 0x57 on bus 1: %v", err)
	}
}
