package delivery

import (
	"fmt"
	"time"

	"github.com/chairside/chairside/monitor/store"
)

// OpenBound is how long opening the store may take before the daemon starts
// without it (store_fault): an SD card that hangs must not keep the chair
// from alarming. Generous, since Open may compact a large file.
const OpenBound = 15 * time.Second

// OpenStore opens the store, giving up after bound. A store that opens later
// is closed at once (releasing its file lock): this run goes on without it,
// with store_fault raised, and the next start tries again.
func OpenStore(dir string, opts store.Options, bound time.Duration) (*store.Store, error) {
	return openBounded(dir, func() (*store.Store, error) { return store.Open(dir, opts) }, bound)
}

// openBounded runs open, giving up after bound (see OpenStore).
func openBounded(dir string, open func() (*store.Store, error), bound time.Duration) (*store.Store, error) {
	type opened struct {
		st  *store.Store
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		st, err := open()
		ch <- opened{st, err}
	}()
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.st, r.err
	case <-t.C:
		go func() {
			if r := <-ch; r.st != nil {
				_ = r.st.Close()
			}
		}()
		return nil, fmt.Errorf("store %s: opening has not finished after %s (the disk hangs?)", dir, bound)
	}
}
