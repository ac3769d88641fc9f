package deploy

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// debRoot is a throwaway Debian root that dpkg installs into with --root
// and --force-script-chrootless: the maintainer scripts run here with
// DPKG_ROOT set, and a systemctl on the PATH records what they ask of
// systemd (the root says systemd runs: run/systemd/system exists).
type debRoot struct {
	t          *testing.T
	dir, calls string
	path       string // PATH with the fake systemctl first
}

func newDebRoot(t *testing.T, arch string) *debRoot {
	t.Helper()
	base := t.TempDir()
	r := &debRoot{t: t, dir: filepath.Join(base, "root"), calls: filepath.Join(base, "systemctl.calls")}
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "run/systemd/system", "etc", "usr/sbin"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"var/lib/dpkg/status":    "",
		"var/lib/dpkg/available": "",
		"etc/passwd":             "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":              "root:x:0:\ndialout:x:20:\n", // dialout exists, i2c and gpio do not
		"etc/shadow":             "root:*:19000:0:99999:7:::\n",
		"etc/gshadow":            "root:*::\ndialout:*::\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fake := filepath.Join(base, "fakebin")
	if err := os.MkdirAll(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho \"$*\" >> " + r.calls + "\n"
	if err := os.WriteFile(filepath.Join(fake, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r.path = fake + ":" + os.Getenv("PATH")
	if arch != "amd64" {
		r.dpkg("--add-architecture", arch)
	}
	return r
}

// dpkg runs dpkg on the root, unattended as apt's frontends do: a conffile
// changed both here and in the package keeps the local one.
func (r *debRoot) dpkg(args ...string) string {
	r.t.Helper()
	all := append([]string{"--root=" + r.dir, "--force-script-chrootless", "--force-confdef", "--force-confold"}, args...)
	c := exec.Command("dpkg", all...)
	c.Env = append(os.Environ(), "PATH="+r.path, "DEBIAN_FRONTEND=noninteractive")
	c.Stdin = nil
	out, err := c.CombinedOutput()
	if err != nil {
		r.t.Fatalf("dpkg %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (r *debRoot) read(name string) string {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

func (r *debRoot) exists(name string) bool {
	_, err := os.Lstat(filepath.Join(r.dir, name))
	return err == nil
}

// systemctl returns what the scripts asked of systemd since the last call.
func (r *debRoot) systemctl() string {
	b, _ := os.ReadFile(r.calls)
	_ = os.Remove(r.calls)
	return string(b)
}

// makeDeb builds the package for arch with make deb's script, from a copy
// of configs changed by edit.
func makeDeb(t *testing.T, arch, version string, edit func(configs string)) string {
	t.Helper()
	root := repoRoot(t)
	configs := filepath.Join(t.TempDir(), "configs")
	if out, err := exec.Command("cp", "-r", filepath.Join(root, "configs"), configs).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	if edit != nil {
		edit(configs)
	}
	c := exec.Command("packaging/mkdeb.sh", arch, t.TempDir())
	c.Dir = root
	c.Env = append(os.Environ(), "VERSION="+version, "CONFIGS="+configs)
	out, err := c.Output()
	if err != nil {
		t.Fatalf("mkdeb.sh %s: %v\n%s", arch, err, errText(err))
	}
	deb := strings.TrimSpace(string(out))
	if st, err := os.Stat(deb); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("%s: %d bytes", filepath.Base(deb), st.Size())
	}
	return deb
}

func errText(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// TestDebInstallUpgradePurge installs the arm64 package into a throwaway
// root, upgrades it and purges it, as a technician's apt would:
//   - install: the programs (arm64 ELF), the unit, the udev rules and the
//     configs as conffiles; the chairside user in dialout, i2c and gpio (the
//     missing groups created); the unit neither enabled nor started;
//   - upgrade: a config the technician changed is kept (the package's new
//     one beside it as .dpkg-dist), a config they did not change follows
//     the package, the running unit is restarted;
//   - remove stops the unit and keeps the configs; purge removes configs
//     and state.
func TestDebInstallUpgradePurge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and installs packages")
	}
	need(t, "dpkg", "dpkg-deb", "apt-get install dpkg")
	need(t, "dpkg", "dpkg", "apt-get install dpkg")
	for _, tool := range []string{"useradd", "groupadd", "usermod"} {
		need(t, "dpkg", tool, "apt-get install passwd")
	}
	if os.Getuid() != 0 {
		if strings.Contains(os.Getenv("CHAIRSIDE_REQUIRE"), "dpkg") {
			t.Fatal("CHAIRSIDE_REQUIRE names dpkg but the test is not root (useradd needs it)")
		}
		t.Skip("LOUD: not root: useradd cannot write the throwaway root's accounts; skipping")
	}

	v1 := makeDeb(t, "arm64", "v1.0.0", nil)
	v2 := makeDeb(t, "arm64", "v1.1.0", func(configs string) {
		appendTo(t, filepath.Join(configs, "chairside.toml"), "# changed in 1.1.0\n")
		appendTo(t, filepath.Join(configs, "ketamine-iv.toml"), "# changed in 1.1.0\n")
	})
	r := newDebRoot(t, "arm64")

	// Install.
	r.dpkg("--install", v1)
	for _, f := range []string{"usr/bin/chairside", "usr/bin/vitalsim", "usr/lib/systemd/system/chairside.service",
		"usr/lib/udev/rules.d/60-chairside.rules", "etc/chairside/chairside.toml", "etc/chairside/ketamine-iv.toml",
		"usr/share/chairside/scenarios/desaturation.toml"} {
		if !r.exists(f) {
			t.Errorf("installed root lacks %s", f)
		}
	}
	// Every program under cmd/ but the demo, each with its unit if it has one.
	for _, prog := range programs(t) {
		if !r.exists("usr/bin/" + prog) {
			t.Errorf("the package lacks /usr/bin/%s", prog)
		}
		unit := "chairside-" + prog + ".service"
		if prog == "chairside" {
			unit = "chairside.service"
		}
		if _, err := os.Stat(filepath.Join(repoRoot(t), "systemd", unit)); err == nil && !r.exists("usr/lib/systemd/system/"+unit) {
			t.Errorf("the package lacks %s's unit %s", prog, unit)
		}
	}
	if r.exists("usr/bin/demo") {
		t.Error("the package holds the demo")
	}
	if ef, err := elf.Open(filepath.Join(r.dir, "usr/bin/chairside")); err != nil {
		t.Fatal(err)
	} else if ef.Machine != elf.EM_AARCH64 {
		t.Errorf("usr/bin/chairside is for %v, want EM_AARCH64", ef.Machine)
		ef.Close()
	}
	shipped, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", "chairside.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if r.read("etc/chairside/chairside.toml") != string(shipped) {
		t.Error("etc/chairside/chairside.toml is not the shipped config")
	}
	if !strings.Contains(string(shipped), `"/dev/chairside/nonin"`) || !strings.Contains(r.read("usr/lib/udev/rules.d/60-chairside.rules"), `SYMLINK+="chairside/nonin"`) {
		t.Error("the shipped config and the udev rules do not agree on /dev/chairside/nonin")
	}
	conffiles := query(t, r, "${Conffiles}")
	for _, f := range []string{"/etc/chairside/chairside.toml", "/etc/chairside/ketamine-iv.toml"} {
		if !strings.Contains(conffiles, f) {
			t.Errorf("%s is not a conffile: %q", f, conffiles)
		}
	}
	passwd, group := r.read("etc/passwd"), r.read("etc/group")
	if !strings.Contains(passwd, "\nchairside:x:") || !strings.Contains(passwd, ":/var/lib/chairside:/usr/sbin/nologin\n") {
		t.Errorf("no chairside system user:\n%s", passwd)
	}
	for _, g := range []string{"dialout", "i2c", "gpio"} {
		if !groupHas(group, g, "chairside") {
			t.Errorf("chairside is not in group %s:\n%s", g, group)
		}
	}
	if calls := r.systemctl(); strings.Contains(calls, "start") || strings.Contains(calls, "enable") || !strings.Contains(calls, "daemon-reload") {
		t.Errorf("first install asked systemd %q (want a daemon-reload, nothing started or enabled)", calls)
	}

	// The technician edits the config; the daemon leaves state behind.
	edited := strings.Replace(string(shipped), `chair = "chair-03"`, `chair = "chair-11"`, 1)
	if err := os.WriteFile(filepath.Join(r.dir, "etc/chairside/chairside.toml"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(r.dir, "var/lib/chairside"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "var/lib/chairside/alarms.log"), []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Upgrade.
	r.dpkg("--install", v2)
	if v := query(t, r, "${Version} ${Status}"); v != "1.1.0 install ok installed" {
		t.Errorf("after the upgrade: %q", v)
	}
	if got := r.read("etc/chairside/chairside.toml"); got != edited {
		t.Errorf("the technician's config was not kept:\n%s", got)
	}
	if !strings.Contains(r.read("etc/chairside/chairside.toml.dpkg-dist"), "# changed in 1.1.0") {
		t.Error("the package's new config is not beside the kept one as .dpkg-dist")
	}
	if !strings.HasSuffix(r.read("etc/chairside/ketamine-iv.toml"), "# changed in 1.1.0\n") {
		t.Error("an unchanged conffile did not follow the package")
	}
	if !groupHas(r.read("etc/group"), "gpio", "chairside") || strings.Count(r.read("etc/passwd"), "\nchairside:") != 1 {
		t.Error("the upgrade changed the chairside user")
	}
	if calls := r.systemctl(); !strings.Contains(calls, "try-restart chairside.service") {
		t.Errorf("the upgrade did not restart chairside.service: %q", calls)
	}

	// Remove, then purge.
	r.dpkg("--remove", "chairside")
	if r.exists("usr/bin/chairside") || !r.exists("etc/chairside/chairside.toml") {
		t.Error("remove: the program stayed or the config went")
	}
	if calls := r.systemctl(); !strings.Contains(calls, "stop chairside.service") {
		t.Errorf("remove did not stop chairside.service: %q", calls)
	}
	// A file the technician added (a secret) goes with the purge too.
	if err := os.WriteFile(filepath.Join(r.dir, "etc/chairside/mqtt.password"), []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.dpkg("--purge", "chairside")
	for _, f := range []string{"etc/chairside", "var/lib/chairside", "usr/lib/systemd/system/chairside.service", "usr/lib/udev/rules.d/60-chairside.rules"} {
		if r.exists(f) {
			t.Errorf("purge left %s", f)
		}
	}
	if s := query(t, r, "${Status}"); s != "" && !strings.Contains(s, "not-installed") {
		t.Errorf("after purge: %q", s)
	}
}

// programs are the main packages under cmd/ but the demo.
func programs(t *testing.T) []string {
	t.Helper()
	c := exec.Command("go", "list", "-f", "{{if eq .Name \"main\"}}{{.ImportPath}}{{end}}", "./cmd/...")
	c.Dir = repoRoot(t)
	out, err := c.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, errText(err))
	}
	var progs []string
	for _, p := range strings.Fields(string(out)) {
		if name := filepath.Base(p); name != "demo" {
			progs = append(progs, name)
		}
	}
	if len(progs) < 2 {
		t.Fatalf("programs under cmd/: %v", progs)
	}
	return progs
}

// query asks dpkg-query about the chairside package in r ("" when unknown).
func query(t *testing.T, r *debRoot, format string) string {
	t.Helper()
	out, _ := exec.Command("dpkg-query", "--root="+r.dir, "-W", "-f="+format, "chairside").Output()
	return strings.TrimSpace(string(out))
}

// groupHas says whether /etc/group text lists user in group.
func groupHas(text, group, user string) bool {
	for _, l := range strings.Split(text, "\n") {
		f := strings.Split(l, ":")
		if len(f) == 4 && f[0] == group {
			for _, m := range strings.Split(f[3], ",") {
				if m == user {
					return true
				}
			}
		}
	}
	return false
}

// The maintainer script gives the station and the recorder, when their units
// are packaged, users of their own, in none of the device groups; run twice
// (an upgrade), it changes nothing.
func TestPostinstMakesServiceUsers(t *testing.T) {
	for _, tool := range []string{"useradd", "groupadd", "usermod"} {
		need(t, "dpkg", tool, "apt-get install passwd")
	}
	if os.Getuid() != 0 {
		t.Skip("LOUD: not root: useradd cannot write the throwaway root's accounts; skipping")
	}
	r := newDebRoot(t, "amd64")
	text, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "deb", "postinst"))
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "postinst")
	units := "chairside.service chairside-station.service chairside-recorder.service"
	if err := os.WriteFile(script, []byte(strings.ReplaceAll(string(text), "@UNITS@", units)), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"configure", ""}, {"configure", "1.0.0"}} {
		c := exec.Command("/bin/sh", append([]string{script}, args...)...)
		c.Env = append(os.Environ(), "DPKG_ROOT="+r.dir, "PATH="+r.path)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("postinst %v: %v\n%s", args, err, out)
		}
	}
	passwd, group := r.read("etc/passwd"), r.read("etc/group")
	for _, u := range []string{"chairside", "chairside-station", "chairside-recorder"} {
		if strings.Count(passwd, "\n"+u+":x:") != 1 {
			t.Errorf("user %s not made once:\n%s", u, passwd)
		}
	}
	for _, g := range []string{"dialout", "gpio", "i2c"} {
		if groupHas(group, g, "chairside-station") || groupHas(group, g, "chairside-recorder") {
			t.Errorf("the station or the recorder is in %s:\n%s", g, group)
		}
	}
	if calls := r.systemctl(); !strings.Contains(calls, "try-restart chairside-station.service") || !strings.Contains(calls, "try-restart chairside-recorder.service") {
		t.Errorf("the upgrade did not restart the station and the recorder: %q", calls)
	}
}
