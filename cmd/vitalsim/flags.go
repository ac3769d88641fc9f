package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/chairside/chairside/drivers/cms50"
	"github.com/chairside/chairside/drivers/nonin"
	"github.com/chairside/chairside/drivers/sim"
)

// maxSpeed bounds -speed: beyond it a 30 s NIBP cycle is over before the
// driver's first poll and ramps jump rather than move.
const maxSpeed = 1000

// endpointSpec is a parsed DEV argument: pty:PATH or serial:DEVICE.
type endpointSpec struct {
	pty  bool   // a pseudo-terminal with a symlink at path; else a real port
	path string // the link to make, or the port to open
}

func (e endpointSpec) String() string {
	if e.pty {
		return "pty:" + e.path
	}
	return "serial:" + e.path
}

// parseEndpoint parses the DEV of flag name.
func parseEndpoint(name, s string) (endpointSpec, error) {
	kind, path, ok := strings.Cut(s, ":")
	switch {
	case !ok || (kind != "pty" && kind != "serial"):
		return endpointSpec{}, fmt.Errorf("-%s %q: want pty:PATH (a pseudo-terminal linked at PATH) or serial:DEVICE (a real port)", name, s)
	case path == "":
		return endpointSpec{}, fmt.Errorf("-%s %q: the path after %q is empty", name, s, kind+":")
	}
	return endpointSpec{pty: kind == "pty", path: path}, nil
}

// options is vitalsim's command line.
type options struct {
	scenario    string
	devices     map[sim.Device]endpointSpec
	noninFormat nonin.Format
	cms50Proto  cms50.Protocol
	speed       float64
	version     bool
}

// errHelp is returned for -h: usage was printed, and that is a success.
var errHelp = errors.New("help requested")

// parseFlags parses and checks the command line. Every problem is in the
// error, one a line; the flag package has already printed its own.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{devices: map[sim.Device]endpointSpec{}}
	fs := flag.NewFlagSet("vitalsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vitalsim -scenario FILE [-nonin DEV] [-nonin-format 2|7|8] [-cms50 DEV] [-cms50-protocol live9|legacy] [-suntech DEV] [-speed X]")
		fmt.Fprintln(stderr, "DEV is pty:PATH (a pseudo-terminal, with a symlink to it at PATH) or serial:DEVICE (a real port).")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.scenario, "scenario", "", "scenario `file` (TOML; see configs/scenarios)")
	dev := map[sim.Device]*string{}
	for _, d := range sim.Devices() {
		dev[d] = fs.String(d.String(), "", "emulate a "+deviceTitle(d)+" on `DEV`")
	}
	format := fs.Int("nonin-format", int(nonin.DF2), "Nonin serial data format: 2, 7 or 8")
	proto := fs.String("cms50-protocol", cms50.Live9.String(), "CMS50 protocol: live9 (firmware 4.6+, CMS50E/F) or legacy")
	fs.Float64Var(&o.speed, "speed", 1, "run the scenario's timeline `X` times faster; frames keep their real rate")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, errHelp
		}
		return o, fmt.Errorf("bad flags (see -h)")
	}
	if o.version {
		return o, nil
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if fs.NArg() > 0 {
		bad("unexpected arguments %q", fs.Args())
	}
	if o.scenario == "" {
		bad("-scenario FILE is required")
	}
	paths := map[string]string{}
	for _, d := range sim.Devices() {
		if !set[d.String()] {
			continue
		}
		spec, err := parseEndpoint(d.String(), *dev[d])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if other, dup := paths[spec.path]; dup {
			bad("-%s and -%s both use %s", other, d, spec.path)
		}
		paths[spec.path] = d.String()
		o.devices[d] = spec
	}
	if !set[sim.Nonin.String()] && !set[sim.CMS50.String()] && !set[sim.SunTech.String()] {
		bad("no device to emulate: give at least one of -nonin, -cms50, -suntech")
	}
	o.noninFormat = nonin.Format(*format)
	if f := o.noninFormat; f != nonin.DF2 && f != nonin.DF7 && f != nonin.DF8 {
		bad("-nonin-format %d: want 2, 7 or 8", *format)
	} else if set["nonin-format"] && !set["nonin"] {
		bad("-nonin-format needs -nonin")
	}
	switch p, err := cms50.ParseProtocol(*proto); {
	case err != nil || (*proto != "live9" && *proto != "legacy"):
		bad("-cms50-protocol %q: want live9 or legacy", *proto)
	case set["cms50-protocol"] && !set["cms50"]:
		bad("-cms50-protocol needs -cms50")
	default:
		o.cms50Proto = p
	}
	if math.IsNaN(o.speed) || o.speed <= 0 || o.speed > maxSpeed {
		bad("-speed %v: want a number above 0 and at most %d", o.speed, maxSpeed)
	}
	return o, errors.Join(errs...)
}

// deviceTitle names each device model in help and logs.
func deviceTitle(d sim.Device) string {
	switch d {
	case sim.Nonin:
		return "Nonin pulse oximeter (OEM III, Xpod)"
	case sim.CMS50:
		return "Contec CMS50D+/E/F pulse oximeter"
	case sim.SunTech:
		return "SunTech Advantage NIBP module"
	}
	return d.String()
}
