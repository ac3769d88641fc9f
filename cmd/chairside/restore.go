package main

import (
	"log/slog"
	"time"

	"github.com/chairside/chairside/monitor"
	"github.com/chairside/chairside/monitor/delivery"
	"github.com/chairside/chairside/monitor/store"
)

// restoreSession makes the engine from the saved snapshot, or a fresh one.
// It returns the restore's events and the store faults found on the way
// (a snapshot unreadable, corrupt or refused), for store_fault at start.
func restoreSession(ec monitor.Config, load func() ([]byte, error), now time.Time, log *slog.Logger) (*monitor.Engine, []monitor.Event, []string, error) {
	var faults []string
	if load != nil {
		b, err := load()
		switch {
		case err != nil:
			log.Error("session snapshot unreadable; starting idle", "err", err)
			faults = append(faults, "store: session snapshot unreadable, the session was not restored: "+err.Error())
		case b != nil:
			snap, err := monitor.DecodeSnapshot(b)
			if err == nil {
				e, evs, err := monitor.Restore(ec, snap, now)
				if err == nil {
					return e, append([]monitor.Event(nil), evs...), nil, nil
				}
				log.Error("session snapshot refused; starting idle", "err", err)
				faults = append(faults, "store: session snapshot refused, the session was not restored: "+err.Error())
			} else {
				log.Error("session snapshot corrupt; starting idle", "err", err)
				faults = append(faults, "store: session snapshot corrupt, the session was not restored: "+err.Error())
			}
		}
	}
	e, err := monitor.New(ec, now)
	return e, nil, faults, err
}

// readOnlySnapshot reads the snapshot of a store that cannot be opened for
// writing (a read-only file or file system), so the session survives even
// then; nil, nil when it cannot be read either (the open error is already
// raised).
func readOnlySnapshot(dir string, bound time.Duration) func() ([]byte, error) {
	return func() ([]byte, error) {
		st, err := delivery.OpenStore(dir, store.Options{ReadOnly: true}, bound)
		if err != nil {
			return nil, nil
		}
		defer st.Close()
		return st.LoadSnapshot()
	}
}
