package store

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

const crashEnv = "CHAIRSIDE_STORE_CRASH_DIR"

// TestCrashHelper is the child of TestKill9: a daemon in miniature. It
// commits a stream of vitals with an alarm now and then from one goroutine,
// with background group commits every 5 ms, and says on stdout what reached
// its publisher (OnCommitted, urgent Commits) and what it acknowledged, until
// it is killed. Each line ends in ";", so a line cut by the kill is ignored.
// It is skipped in a normal run.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("helper process for TestKill9")
	}
	var s *Store
	onCommitted := func(recs []Record) {
		line := []string{"committed"}
		for _, r := range recs {
			line = append(line, strconv.FormatUint(r.Seq, 10))
		}
		fmt.Println(strings.Join(line, " "), ";")
		for _, r := range recs {
			if r.Seq%3 == 0 { // the broker's PUBACK for some
				fmt.Println("acked", r.Seq, ";")
				s.Ack(r.Seq)
			}
		}
	}
	s, err := Open(dir, Options{CommitEvery: 5 * time.Millisecond, OnCommitted: onCommitted})
	if err != nil {
		fmt.Println("error", err, ";")
		os.Exit(3)
	}
	for i := 0; ; i++ {
		if i%20 == 5 {
			a, err := s.Commit(root+"/alarm", alarm(fmt.Sprintf("a-1-%d", i)), true, true)
			if err != nil {
				fmt.Println("error", err, ";")
				os.Exit(3)
			}
			fmt.Println("urgent", a.Seq, ";")
		} else if _, err := s.Commit(root+"/vitals/spo2", vital(97), true, false); err != nil {
			fmt.Println("error", err, ";")
			os.Exit(3)
		}
		if i == 300 {
			fmt.Println("ready ;")
		}
		time.Sleep(time.Duration(i%3) * time.Millisecond)
	}
}

// TestKill9: a daemon killed with SIGKILL mid-stream keeps every record that
// reached its publisher (through OnCommitted or an urgent Commit) unless it
// was acknowledged; it loses only records that never got a seq; and the next
// Open continues at the last committed seq + 1, with no gap record, no hole
// and no reuse.
func TestKill9(t *testing.T) {
	for round := 0; round < 5; round++ { // the kill lands somewhere else each time
		t.Run(fmt.Sprint(round), kill9Round)
	}
}

func kill9Round(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var live []uint64 // what the publisher got, in the order it got it
	acked := map[uint64]bool{}
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[len(f)-1] != ";" {
			continue // cut by the kill
		}
		nums := func() []uint64 {
			var ns []uint64
			for _, x := range f[1 : len(f)-1] {
				n, err := strconv.ParseUint(x, 10, 64)
				if err != nil {
					t.Fatalf("child line %q", sc.Text())
				}
				ns = append(ns, n)
			}
			return ns
		}
		switch f[0] {
		case "committed", "urgent":
			live = append(live, nums()...)
		case "acked":
			acked[nums()[0]] = true
		case "error":
			t.Fatalf("child: %s", sc.Text())
		case "ready":
			time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond) // the pipe holds what it says meanwhile
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatal("the child ended before it was killed")
	}
	// One committer: the publisher got every seq once, in seq order.
	if len(live) < 200 || !slices.Equal(live, seqRange(1, uint64(len(live)))) {
		t.Fatalf("the child's publisher got %d records, not 1..n in order: %v", len(live), head(live))
	}

	s := openT(t, dir, quiet())
	defer closeT(t, s)
	if s.Boot() != 2 {
		t.Errorf("boot %d after one run, want 2", s.Boot())
	}
	stored := map[uint64]bool{}
	for _, r := range pendingT(t, s) {
		if strings.HasSuffix(r.Topic, "/gap") {
			t.Errorf("gap record %d after kill -9: %s", r.Seq, r.Payload)
		}
		stored[r.Seq] = true
	}
	for _, seq := range live {
		if !stored[seq] && !acked[seq] {
			t.Errorf("seq %d reached the publisher, was not acknowledged, and is not in the file", seq)
		}
	}
	next := commitT(t, s, root+"/alarm", alarm("a-2-1"), true).Seq
	published := uint64(len(live))
	if next <= published {
		t.Fatalf("seq %d reused after the crash (the publisher had 1..%d)", next, published)
	}
	// Seqs the publisher had not got yet were committed just before the
	// kill: they are in the file, for the backlog. None is missing.
	for seq := published + 1; seq < next; seq++ {
		if !stored[seq] {
			t.Errorf("seq %d is neither published nor stored: a hole before %d", seq, next)
		}
	}
	t.Logf("published 1..%d (%d acked), %d committed but not yet published, next seq %d",
		published, len(acked), next-published-1, next)
}

func head(xs []uint64) []uint64 { return xs[:min(len(xs), 20)] }

// TestLegacyReservationIsSkippedOnce: a file from the build that reserved seqs
// ahead of use, left by a crash, may have had seqs up to its reservation
// published; Open starts after it, once, and drops the key.
func TestLegacyReservationIsSkippedOnce(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, quiet())
	for i := 0; i < 3; i++ {
		commitT(t, s, root+"/alarm", alarm("a"), true)
	}
	closeT(t, s)
	editMeta(t, dir, func(meta *bolt.Bucket) {
		if err := putU64(meta, keyLegacyReserved, 1024+3); err != nil {
			t.Fatal(err)
		}
	})
	s = openT(t, dir, quiet())
	if r := commitT(t, s, root+"/alarm", alarm("b"), true); r.Seq != 1028 {
		t.Errorf("seq %d after a legacy reservation to 1027, want 1028", r.Seq)
	}
	closeT(t, s)
	editMeta(t, dir, func(meta *bolt.Bucket) {
		if meta.Get(keyLegacyReserved) != nil {
			t.Error("the legacy key is still there")
		}
	})
	s = openT(t, dir, quiet())
	defer closeT(t, s)
	if r := commitT(t, s, root+"/alarm", alarm("c"), true); r.Seq != 1029 {
		t.Errorf("seq %d, want 1029", r.Seq)
	}
}

func editMeta(t *testing.T, dir string, fn func(meta *bolt.Bucket)) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { fn(tx.Bucket(bucketMeta)); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
