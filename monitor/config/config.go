// Package config reads chairside's own configuration file (CONTRACT §2):
// which chair this is, the protocol file, the MQTT broker, the store, the
// sensors, the annunciator and the commands the station may send. Like the
// protocol, it is read strictly and every problem is reported at once.
package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/protocol"
	"github.com/chairside/chairside/monitor/tomlcheck"
	"github.com/chairside/chairside/monitor/vitals"
	"github.com/chairside/chairside/monitor/wire"
)

// DefaultPath is where the daemon looks without -config.
const DefaultPath = "/etc/chairside/chairside.toml"

// Config is a whole chairside configuration.
type Config struct {
	File        string
	Chair       string
	Protocol    *protocol.Protocol
	Demo        bool
	MQTT        MQTT
	Store       Store
	Sensors     []Sensor
	Annunciator Annunciator
	Commands    Commands
	Status      Status
}

// MQTT is the broker connection. Secrets are named by file, never written here.
type MQTT struct {
	Broker       string // tcp://host:port or ssl://host:port
	TopicPrefix  string
	Username     string
	PasswordFile string
	CAFile       string
	CertFile     string
	KeyFile      string
	Keepalive    time.Duration
}

// TLS reports whether the broker is reached over TLS.
func (m MQTT) TLS() bool { return strings.HasPrefix(m.Broker, "ssl://") }

// Store is where the outbox, alarm log, session and counters live.
type Store struct {
	Dir string
}

// Sensor is one [[sensor]] table.
type Sensor struct {
	Driver     string
	Port       string        // serial drivers
	Format     int           // nonin: 2, 7 or 8
	StaleAfter time.Duration // no valid data this long in a session: sensor_silent
	I2CBus     string        // max30102: "1", "I2C1" or "/dev/i2c-1"
	Address    uint16        // max30102: 7-bit I2C address (default 0x57)
	SameLimb   bool          // suntech: the cuff is on the oximeter's arm
}

// Annunciator is the bedside buzzer, lamps and button.
type Annunciator struct {
	Kind      string // gpio | none
	Buzzer    string
	RedLED    string
	YellowLED string
	AckButton string
}

// Commands says what the station may ask.
type Commands struct {
	Remote []string
	MaxAge time.Duration
}

// Driver is what this build knows of one sensor driver: what it measures,
// the keys its [[sensor]] table takes, and whether the daemon can run it.
// `chairside -check` and the daemon read the same table, so the check never
// passes a driver the daemon then refuses.
type Driver struct {
	Name  string
	Roles monitor.Role
	Keys  []string // its own keys, beside driver and stale_after
	// Unavailable says why this build cannot run the driver; empty when it can.
	Unavailable string
}

// Serial reports whether the driver reads a serial port.
func (d Driver) Serial() bool { return slices.Contains(d.Keys, "port") }

var drivers = []Driver{
	{Name: "nonin", Roles: monitor.RoleOximeter, Keys: []string{"port", "format"}},
	{Name: "cms50", Roles: monitor.RoleOximeter, Keys: []string{"port"}},
	{Name: "cms50-legacy", Roles: monitor.RoleOximeter, Keys: []string{"port"}},
	{Name: "suntech", Roles: monitor.RoleNIBP, Keys: []string{"port", "same_limb_as_oximeter"}},
	{Name: "max30102", Roles: monitor.RoleOximeter, Keys: []string{"i2c_bus", "address"}},
	{Name: "sim", Roles: monitor.RoleOximeter | monitor.RoleNIBP,
		Unavailable: "the daemon has no made-up source; for a demo, run vitalsim on pseudo-terminals and point a nonin, cms50 or suntech sensor's port at them"},
}

// Drivers lists every driver name a config may give, available or not.
func Drivers() []Driver { return slices.Clone(drivers) }

// LookupDriver finds a driver by name.
func LookupDriver(name string) (Driver, bool) {
	for _, d := range drivers {
		if d.Name == name {
			return d, true
		}
	}
	return Driver{}, false
}

// keyOwners names the drivers that take key; empty for a key no driver takes
// (Done reports it as unknown).
func keyOwners(key string) string {
	var out []string
	for _, d := range drivers {
		if slices.Contains(d.Keys, key) {
			out = append(out, d.Name)
		}
	}
	return strings.Join(out, ", ")
}

func roleOf(name string) monitor.Role {
	d, _ := LookupDriver(name)
	return d.Roles
}

func driverNames() string {
	names := make([]string, len(drivers))
	for i, d := range drivers {
		names[i] = d.Name
	}
	return strings.Join(names, ", ")
}

var chairPattern = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// DefaultRemote is the contract's example list: everything but pause_audio,
// which silences a bedside from afar and must be chosen on purpose.
func DefaultRemote() []string {
	return []string{wire.ActionAck, wire.ActionNIBPNow, wire.ActionMark, wire.ActionSessionStart,
		wire.ActionInfusionStart, wire.ActionInfusionEnd, wire.ActionSessionEnd, wire.ActionLimits}
}

// Load reads and checks the configuration and the protocol file it names.
// The config is only safe to use when the problems hold no error.
func Load(path string) (*Config, *tomlcheck.Problems) {
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
	if s, ok := t.String("chair"); ok || !t.Has("chair") {
		c.Chair = s
		if !chairPattern.MatchString(s) {
			t.Problem("chair", "%q must be 1 to 32 of a-z, 0-9 and - (it is part of every topic)", s)
		}
	}
	c.Demo, _ = t.Bool("demo")
	if p, ok := t.Path("protocol"); ok && p != "" {
		if err := readableProtocol(p); err != nil {
			t.Problem("protocol", "%v", err)
		} else {
			c.Protocol = protocol.Load(p, t.ProblemsSink())
		}
	} else if !t.Has("protocol") || ok {
		t.Problem("protocol", "is required: the protocol file with phases and limits")
	}
	c.readMQTT(t)
	st, _ := t.Table("store")
	c.Store.Dir = "/var/lib/chairside"
	if d, ok := st.Path("dir"); ok {
		c.Store.Dir = d
		if d == "" {
			st.Problem("dir", "must not be empty")
		} else if fi, err := os.Stat(d); err == nil && !fi.IsDir() {
			st.Problem("dir", "%s is a file, not a folder", d)
		}
	}
	st.Done()
	c.readSensors(t)
	c.readAnnunciator(t)
	c.readCommands(t)
	c.readStatus(t)
	t.Done()
}

func (c *Config) readMQTT(t *tomlcheck.Table) { c.MQTT = ReadMQTT(t) }

// ReadMQTT reads the required [mqtt] table of t (interfaces §2): the chair's,
// and the same table in the station's and the recorder's configs.
func ReadMQTT(t *tomlcheck.Table) MQTT {
	m, present := t.Table("mqtt")
	if !present {
		t.Problem("mqtt", "is required: [mqtt] with broker = \"tcp://host:1883\"")
	}
	out := MQTT{TopicPrefix: "chairside", Keepalive: 10 * time.Second}
	if s, ok := m.String("broker"); ok {
		out.Broker = s
		checkBroker(m, s)
	} else if present && !m.Has("broker") {
		m.Problem("broker", "is required")
	}
	if s, ok := m.String("topic_prefix"); ok {
		out.TopicPrefix = s
		if s == "" || strings.ContainsAny(s, "+#") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.HasPrefix(s, "$") {
			m.Problem("topic_prefix", "%q must be non-empty, without + # or a leading $, and not start or end with /", s)
		}
	}
	out.Username, _ = m.String("username")
	out.PasswordFile = readableFile(m, "password_file", true)
	out.CAFile = readableFile(m, "ca_file", false)
	out.CertFile = readableFile(m, "cert_file", true)
	out.KeyFile = readableFile(m, "key_file", true)
	if (out.CertFile == "") != (out.KeyFile == "") {
		m.Problem("cert_file", "and key_file go together: give both or neither")
	}
	if !out.TLS() && (out.CAFile != "" || out.CertFile != "") && out.Broker != "" {
		m.Problem("broker", "is %q but TLS files are set: use ssl:// for TLS", out.Broker)
	}
	if out.PasswordFile != "" && out.Username == "" {
		m.Problem("password_file", "is set without username")
	}
	if out.PasswordFile != "" && !out.TLS() {
		m.Warn("password_file", "the password crosses the network in clear text over tcp://; use ssl://")
	}
	if d, ok := m.Duration("keepalive"); ok {
		out.Keepalive = d
		if d < time.Second || d > 5*time.Minute {
			m.Problem("keepalive", "is %v; it must be between 1s and 5m", d)
		}
	}
	m.Done()
	return out
}

func checkBroker(m *tomlcheck.Table, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl") || u.Host == "" {
		m.Problem("broker", "%q must be tcp://host:port or ssl://host:port", s)
		return
	}
	if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
		m.Problem("broker", "%q needs a port (1883 for tcp, 8883 for ssl)", s)
	}
	if u.Path != "" || u.RawQuery != "" || u.User != nil {
		m.Problem("broker", "%q must hold only scheme, host and port (credentials come from username and password_file)", s)
	}
}

// readableProtocol checks the protocol file before it is read, so a missing
// one is reported against the key that names it, with the path it resolved to
// (a relative path is resolved against the config file's folder).
func readableProtocol(p string) error {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %v", p, unwrapPathError(err))
	case fi.IsDir():
		return fmt.Errorf("%s is a folder, not a protocol file", p)
	}
	return nil
}

// readableFile reads a path key and checks that the file can be read; a
// secret must not be readable by everyone.
func readableFile(t *tomlcheck.Table, key string, secret bool) string {
	p, ok := t.Path(key)
	if !ok || p == "" {
		return ""
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Problem(key, "%s: %v", p, unwrapPathError(err))
		return p
	}
	if fi.IsDir() {
		t.Problem(key, "%s is a folder, not a file", p)
		return p
	}
	f, err := os.Open(p)
	if err != nil {
		t.Problem(key, "%s: %v", p, unwrapPathError(err))
		return p
	}
	f.Close()
	if secret && fi.Mode().Perm()&0o044 != 0 {
		// As ssh refuses a private key others can read: a secret others
		// can read is no longer a secret.
		t.Problem(key, "%s is readable by other users (mode %v): chmod 600 it", p, fi.Mode().Perm())
	}
	return p
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func (c *Config) readSensors(t *tomlcheck.Table) {
	tables := t.Tables("sensor")
	ports := map[string]int{}
	i2cDevs := map[string]int{} // "bus/address": sensor index
	var oxi, nibp []int
	for i, st := range tables {
		var s Sensor
		s.StaleAfter = 10 * time.Second
		s.Driver, _ = st.String("driver")
		drv, known := LookupDriver(s.Driver)
		if !known {
			// Its other keys cannot be judged: one line, not a cascade.
			st.Problem("driver", "%q is not a driver (%s)", s.Driver, driverNames())
			st.IgnoreRest()
			c.Sensors = append(c.Sensors, s)
			continue
		}
		roles := drv.Roles
		if drv.Unavailable != "" {
			st.Problem("driver", "%q is not available in this build: %s", s.Driver, drv.Unavailable)
			roles = 0 // it measures nothing here: no second "all oximeters" line
		}
		for _, k := range st.Keys() {
			if k != "driver" && k != "stale_after" && !slices.Contains(drv.Keys, k) {
				if owners := keyOwners(k); owners != "" {
					st.Problem(k, "is not used by driver %s (only by %s)", s.Driver, owners)
					st.Ignore(k)
				}
			}
		}
		only := func(key string) bool { return slices.Contains(drv.Keys, key) }
		if drv.Serial() {
			s.Port, _ = st.String("port")
			if s.Port == "" {
				st.Problem("port", "is required for driver %s (e.g. /dev/serial/by-id/...)", s.Driver)
			} else if j, dup := ports[s.Port]; dup {
				st.Problem("port", "%s is also sensor %d's port", s.Port, j+1)
			} else {
				ports[s.Port] = i
				if _, err := os.Stat(s.Port); err != nil {
					st.Warn("port", "%s does not exist now (unplugged?); chairside will keep trying to open it", s.Port)
				}
			}
		}
		if only("format") {
			s.Format = 2
			if n, ok := st.Int("format"); ok {
				s.Format = int(n)
				if n != 2 && n != 7 && n != 8 {
					st.Problem("format", "%d is not a Nonin data format chairside reads (2, 7 or 8)", n)
				}
			}
		}
		if only("i2c_bus") {
			c.readI2C(st, &s, i, i2cDevs)
		}
		if only("same_limb_as_oximeter") {
			s.SameLimb, _ = st.Bool("same_limb_as_oximeter")
		}
		if d, ok := st.Duration("stale_after"); ok {
			s.StaleAfter = d
			if d < time.Second || d > 10*time.Minute {
				st.Problem("stale_after", "is %v; it must be between 1s and 10m", d)
			}
		}
		if roles&monitor.RoleOximeter != 0 {
			oxi = append(oxi, i)
		}
		if roles&monitor.RoleNIBP != 0 {
			nibp = append(nibp, i)
			if s.StaleAfter < 30*time.Second && !st.Has("stale_after") {
				s.StaleAfter = 30 * time.Second // the module is polled every few seconds, not streamed
			}
		}
		st.Done()
		c.Sensors = append(c.Sensors, s)
	}
	switch {
	case len(tables) == 0:
		t.Problem("sensor", "no [[sensor]] tables: chairside would watch nothing")
	case len(oxi) == 0:
		t.Warn("sensor", "no oximeter: SpO2 and pulse will not be monitored")
	case len(oxi) > 1:
		t.Problem("sensor", "sensors %s are all oximeters; configure one", joinIndexes(oxi))
	}
	switch {
	case len(tables) > 0 && len(nibp) == 0:
		t.Warn("sensor", "no NIBP module: blood pressure will not be measured")
	case len(nibp) > 1:
		t.Problem("sensor", "sensors %s all measure NIBP; configure one", joinIndexes(nibp))
	}
}

// DefaultI2CAddress is the MAX30102's fixed address.
const DefaultI2CAddress = 0x57

// i2cBusPattern is what i2c_bus may be: periph's bus number or name, or the
// Linux device (drivers/max30102.BusName takes the same; a test holds the
// two together).
var i2cBusPattern = regexp.MustCompile(`^(/dev/i2c-[0-9]{1,3}|I2C[0-9]{1,3}|[0-9]{1,3})$`)

// ValidI2CBus reports whether bus is a well-formed i2c_bus value.
func ValidI2CBus(bus string) bool { return i2cBusPattern.MatchString(bus) }

// readI2C reads an I²C sensor's bus and address; a bus and address two
// sensors share is an error (two parts cannot answer one address).
func (c *Config) readI2C(st *tomlcheck.Table, s *Sensor, i int, seen map[string]int) {
	s.I2CBus, s.Address = "1", DefaultI2CAddress
	if b, ok := st.String("i2c_bus"); ok {
		s.I2CBus = b
	}
	if !i2cBusPattern.MatchString(s.I2CBus) {
		st.Problem("i2c_bus", "%q is not an I2C bus: write its number (\"1\" on a Raspberry Pi), \"I2C1\" or \"/dev/i2c-1\"", s.I2CBus)
		return
	}
	if n, ok := st.Int("address"); ok {
		// 0x00-0x07 and 0x78-0x7F are reserved by the I2C specification.
		if n < 0x08 || n > 0x77 {
			st.Problem("address", "%#x is not a 7-bit I2C device address (0x08 to 0x77; the MAX30102's is 0x57)", n)
			return
		}
		s.Address = uint16(n)
	}
	bus := strings.TrimPrefix(s.I2CBus, "/dev/i2c-")
	bus = strings.TrimPrefix(bus, "I2C")
	key := fmt.Sprintf("%s/%#x", bus, s.Address)
	if j, dup := seen[key]; dup {
		st.Problem("address", "%#x on I2C bus %s is also sensor %d's", s.Address, bus, j+1)
		return
	}
	seen[key] = i
}

func joinIndexes(ix []int) string {
	s := make([]string, len(ix))
	for i, v := range ix {
		s[i] = fmt.Sprint(v + 1)
	}
	return strings.Join(s, ", ")
}

func (c *Config) readAnnunciator(t *tomlcheck.Table) {
	a, present := t.Table("annunciator")
	if !present {
		t.Problem("annunciator", "is required: kind = \"gpio\" with its pins, or, explicitly, kind = \"none\"")
		return
	}
	c.Annunciator.Kind, _ = a.String("kind")
	pins := []struct {
		key string
		dst *string
	}{{"buzzer", &c.Annunciator.Buzzer}, {"red_led", &c.Annunciator.RedLED}, {"yellow_led", &c.Annunciator.YellowLED}, {"ack_button", &c.Annunciator.AckButton}}
	switch c.Annunciator.Kind {
	case "gpio":
		for _, p := range pins {
			*p.dst, _ = a.String(p.key)
		}
		used := c.i2cPins()
		for _, p := range pins {
			if *p.dst == "" {
				continue
			}
			if err := checkPin(*p.dst); err != nil {
				a.Problem(p.key, "%v", err)
			} else if other, dup := used[*p.dst]; dup {
				a.Problem(p.key, "%s is also %s", *p.dst, other)
			} else {
				used[*p.dst] = p.key
			}
		}
		if c.Annunciator.Buzzer == "" {
			a.Problem("buzzer", "is required with kind = \"gpio\": a bedside alarm must sound")
		}
		if c.Annunciator.RedLED == "" {
			a.Problem("red_led", "is required with kind = \"gpio\"")
		}
	case "none":
		a.Warn("kind", "\"none\": the bedside neither sounds nor lights; the station is the only annunciation")
		for _, p := range pins {
			if a.Has(p.key) {
				a.Problem(p.key, "is set but kind is \"none\"")
				a.Ignore(p.key)
			}
		}
	default:
		a.Problem("kind", "%q must be \"gpio\" or \"none\"", c.Annunciator.Kind)
		a.IgnoreRest() // the pins cannot be judged without a kind
	}
	a.Done()
}

// i2cPins are the header pins an I2C sensor on the Pi's bus 1 holds (SDA on
// GPIO2, SCL on GPIO3), by pin, saying who holds them; a lamp or button
// there would break the bus.
func (c *Config) i2cPins() map[string]string {
	used := map[string]string{}
	for i, s := range c.Sensors {
		if s.I2CBus == "" {
			continue
		}
		switch strings.TrimPrefix(strings.TrimPrefix(s.I2CBus, "/dev/i2c-"), "I2C") {
		case "1":
			who := fmt.Sprintf("I2C bus 1 of sensor %d (%s)", i+1, s.Driver)
			used["GPIO2"], used["GPIO3"] = "SDA of "+who, "SCL of "+who
		}
	}
	return used
}

// Pins a bedside box can use: the Raspberry Pi 40-pin header's BCM lines
// (GPIO0 and GPIO1 are its HAT ID EEPROM), the same on every model from the
// Pi 1 B+ to the Pi 5.
const minPin, maxPin = 2, 27

// checkPin accepts "GPIO<n>" for a line the header carries, so a mistyped
// pin is a config error, not a silent lamp.
func checkPin(name string) error {
	n, err := strconv.Atoi(strings.TrimPrefix(name, "GPIO"))
	if !strings.HasPrefix(name, "GPIO") || err != nil || strconv.Itoa(n) != strings.TrimPrefix(name, "GPIO") {
		return fmt.Errorf("%q is not a pin name; write GPIO<n> with the BCM number, e.g. \"GPIO18\"", name)
	}
	if n < minPin || n > maxPin {
		return fmt.Errorf("%s is not on the Raspberry Pi's 40-pin header (GPIO%d to GPIO%d)", name, minPin, maxPin)
	}
	return nil
}

func (c *Config) readCommands(t *tomlcheck.Table) {
	ct, _ := t.Table("commands")
	c.Commands = Commands{Remote: DefaultRemote(), MaxAge: 30 * time.Second}
	if list, ok := ct.Strings("remote"); ok {
		c.Commands.Remote = list
		for _, a := range list {
			if !wire.IsAction(a) {
				ct.Problem("remote", "%q is not an action (%s)", a, strings.Join(wire.Actions(), ", "))
			}
		}
	}
	if d, ok := ct.Duration("max_age"); ok {
		c.Commands.MaxAge = d
		if d < time.Second || d > 10*time.Minute {
			ct.Problem("max_age", "is %v; it must be between 1s and 10m", d)
		}
	}
	ct.Done()
}

// Engine gives the monitor engine's configuration for this chair.
func (c *Config) Engine(boot uint64) monitor.Config {
	ec := monitor.Config{Protocol: c.Protocol, Remote: c.Commands.Remote, MaxCommandAge: c.Commands.MaxAge, Boot: boot, Chair: c.Chair}
	for _, s := range c.Sensors {
		ms := monitor.Sensor{Source: s.Driver, Roles: roleOf(s.Driver), StaleAfter: s.StaleAfter, SameLimb: s.SameLimb}
		switch s.Driver {
		case "sim":
			ms.Flags = vitals.Uncalibrated | vitals.Simulated
		case "max30102":
			ms.Flags = vitals.Uncalibrated
		}
		ec.Sensors = append(ec.Sensors, ms)
	}
	return ec
}

// ReadableFile reads a path key naming a file that must be readable; a
// secret (password_file) must not be readable by other users. The recorder
// shares it.
func ReadableFile(t *tomlcheck.Table, key string, secret bool) string {
	return readableFile(t, key, secret)
}
