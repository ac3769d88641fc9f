package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The system-call groups as systemd expands them, generated from
// systemd-analyze (the command is the file's first line), so that the test
// does not need systemd installed.
const syscallGroups = "testdata/systemd-syscall-filter.txt"

// parseGroups reads systemd-analyze syscall-filter's listing: "@group" at
// the start of a line, then its members indented (calls or other groups).
func parseGroups(t *testing.T, path string) map[string][]string {
	t.Helper()
	groups := map[string][]string{}
	cur := ""
	for _, l := range lines(t, path) {
		s := strings.TrimSpace(l)
		switch {
		case s == "" || strings.HasPrefix(s, "#"):
		case !strings.HasPrefix(l, " ") && strings.HasPrefix(s, "@"):
			cur = s
			groups[cur] = nil
		case cur != "":
			groups[cur] = append(groups[cur], s)
		}
	}
	if len(groups["@system-service"]) == 0 || len(groups["@default"]) == 0 {
		t.Fatalf("%s: no @system-service or @default group", path)
	}
	return groups
}

// expand adds the calls of item (a call or an @group) to set, or removes them.
func expand(t *testing.T, groups map[string][]string, item string, set map[string]bool, add bool) {
	t.Helper()
	if !strings.HasPrefix(item, "@") {
		if add {
			set[item] = true
		} else {
			delete(set, item)
		}
		return
	}
	members, ok := groups[item]
	if !ok {
		t.Fatalf("unknown system-call group %s", item)
	}
	for _, m := range members {
		expand(t, groups, m, set, add)
	}
}

// allowedCalls is what a unit's SystemCallFilter= lines allow, as systemd
// applies them: the first line sets the mode (an allow list here), later
// "~" lines remove calls from it; @default is always allowed.
func allowedCalls(t *testing.T, unit string, groups map[string][]string) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	first := true
	for _, l := range lines(t, unit) {
		v, ok := strings.CutPrefix(strings.TrimSpace(l), "SystemCallFilter=")
		if !ok {
			continue
		}
		deny := strings.HasPrefix(v, "~")
		if first && deny {
			t.Fatalf("%s: the first SystemCallFilter= is a deny list; this test expects an allow list", unit)
		}
		first = false
		for _, item := range strings.Fields(strings.TrimPrefix(v, "~")) {
			expand(t, groups, item, set, !deny)
		}
	}
	if first {
		t.Fatalf("%s has no SystemCallFilter=", unit)
	}
	expand(t, groups, "@default", set, true)
	return set
}

// straceCall matches a call's line in strace -f output: "PID name(".
var straceCall = regexp.MustCompile(`^\d+\s+([a-z0-9_]+)\(`)

// tracedCalls is every system call named in strace -f -o output files.
func tracedCalls(t *testing.T, paths ...string) map[string]int {
	t.Helper()
	calls := map[string]int{}
	for _, p := range paths {
		for _, l := range lines(t, p) {
			if m := straceCall.FindStringSubmatch(l); m != nil {
				calls[m[1]]++
			}
		}
	}
	if len(calls) == 0 {
		t.Fatalf("strace recorded no call in %v", paths)
	}
	return calls
}

// TestUnitAllowsEverySyscall runs the daemon (chairside -check, as the unit's
// ExecStartPre does, then the daemon through a short session with one alarm
// and a SIGTERM, with the shipped GPIO annunciator, which periph.io probes
// for and, off a Pi, reports as annunciator_fault) under strace, and fails when it makes a system call that
// systemd/chairside.service's SystemCallFilter= does not allow: a call that
// sneaks in with new code or a new Go release would fail with EPERM under
// systemd. It also proves the unit and the clock check agree: adjtimex is
// called and allowed.
func TestUnitAllowsEverySyscall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon under strace")
	}
	strace := need(t, "strace", "strace", "apt-get install strace")
	unit := filepath.Join(repoRoot(t), "systemd", "chairside.service")
	allowed := allowedCalls(t, unit, parseGroups(t, syscallGroups))

	bin := build(t, native(), daemonOnly)
	dir := t.TempDir()
	checkTrace, runTrace := filepath.Join(dir, "check.strace"), filepath.Join(dir, "run.strace")
	wrap := func(out string) []string { return []string{strace, "-f", "-qq", "-e", "trace=all", "-o", out} }

	cfg := filepath.Join(repoRoot(t), "configs", "chairside.toml")
	if out, err := command(wrap(checkTrace), filepath.Join(bin, "chairside"), "-check", "-config", cfg).CombinedOutput(); err != nil {
		t.Fatalf("chairside -check %s under strace: %v\n%s", cfg, err, out)
	}
	runScenario(t, bin, wrap(runTrace), nil, gpioAnnunciator)

	calls := tracedCalls(t, checkTrace, runTrace)
	var names, refused []string
	for c := range calls {
		names = append(names, c)
		if !allowed[c] {
			refused = append(refused, c)
		}
	}
	sort.Strings(names)
	sort.Strings(refused)
	t.Logf("%d distinct system calls: %s", len(names), strings.Join(names, " "))
	if len(refused) > 0 {
		t.Fatalf("%s's SystemCallFilter= refuses %d call(s) the daemon makes: %v (allow them in the unit, or stop making them)", unit, len(refused), refused)
	}
	if calls["adjtimex"] == 0 {
		t.Fatal("the daemon never called adjtimex: the clock check changed; check the unit's comment on it")
	}
	if os.Getenv("CHAIRSIDE_SYSCALLS_OUT") != "" {
		_ = os.WriteFile(os.Getenv("CHAIRSIDE_SYSCALLS_OUT"), []byte(strings.Join(names, "\n")+"\n"), 0o644)
	}
}

// The filter model is systemd's: later lines add to or take from the first
// allow list, so ~@privileged takes adjtimex (in @clock) away and a later
// adjtimex line brings it back; @default is always allowed.
func TestAllowedCallsFollowsSystemdOrder(t *testing.T) {
	groups := parseGroups(t, syscallGroups)
	unit := filepath.Join(t.TempDir(), "x.service")
	write := func(filter string) map[string]bool {
		if err := os.WriteFile(unit, []byte("[Service]\n"+filter), 0o600); err != nil {
			t.Fatal(err)
		}
		return allowedCalls(t, unit, groups)
	}
	base := write("SystemCallFilter=@system-service\n")
	if base["adjtimex"] || base["settimeofday"] || !base["read"] || !base["setuid"] || !base["brk"] {
		t.Fatalf("@system-service: adjtimex %v settimeofday %v read %v setuid %v brk %v", base["adjtimex"], base["settimeofday"], base["read"], base["setuid"], base["brk"])
	}
	denied := write("SystemCallFilter=@system-service adjtimex\nSystemCallFilter=~@privileged\n")
	if denied["adjtimex"] || denied["setuid"] || !denied["read"] {
		t.Fatalf("~@privileged after: adjtimex %v setuid %v read %v", denied["adjtimex"], denied["setuid"], denied["read"])
	}
	back := write("SystemCallFilter=@system-service\nSystemCallFilter=~@privileged\nSystemCallFilter=adjtimex\n")
	if !back["adjtimex"] || back["settimeofday"] || back["clock_settime"] {
		t.Fatalf("adjtimex re-allowed: adjtimex %v settimeofday %v clock_settime %v", back["adjtimex"], back["settimeofday"], back["clock_settime"])
	}
}

// strace's resumed and signal lines name no new call.
func TestTracedCallsParsesStraceLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s")
	text := "12 execve(\"/x\", [\"x\"], 0x0 /* 3 vars */) = 0\n" +
		"13 futex(0x1, FUTEX_WAIT_PRIVATE, 0, NULL <unfinished ...>\n" +
		"13 <... futex resumed>) = 0\n" +
		"12 --- SIGURG {si_signo=SIGURG, si_code=SI_TKILL} ---\n" +
		"12 rt_sigreturn({mask=[]}) = 0\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got := tracedCalls(t, p)
	if len(got) != 3 || got["execve"] != 1 || got["futex"] != 1 || got["rt_sigreturn"] != 1 {
		t.Fatalf("calls %v", got)
	}
}

// The committed expansion matches the systemd installed here, for every
// group the units name: a systemd whose groups changed (a newer CI image)
// fails here with the command that regenerates the file.
func TestSyscallGroupsMatchSystemd(t *testing.T) {
	analyze := need(t, "systemd", "systemd-analyze", "apt-get install systemd")
	live := filepath.Join(t.TempDir(), "live.txt")
	out, err := exec.Command(analyze, "syscall-filter", "--no-pager").Output()
	if err != nil {
		t.Fatalf("systemd-analyze syscall-filter: %v", err)
	}
	if err := os.WriteFile(live, out, 0o644); err != nil {
		t.Fatal(err)
	}
	committed, current := parseGroups(t, syscallGroups), parseGroups(t, live)
	for _, g := range []string{"@system-service", "@privileged", "@resources", "@default", "@clock"} {
		a, b := map[string]bool{}, map[string]bool{}
		expand(t, committed, g, a, true)
		expand(t, current, g, b, true)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s differs between %s and this systemd: regenerate it (its first line says how)", g, syscallGroups)
		}
	}
}
