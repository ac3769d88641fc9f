package store

// Stats are the store's counters, for the daemon's metrics. The write
// counters start at zero at each Open; Records and Bytes are the file's.
type Stats struct {
	Records int64 // outbox records in the file, not yet acknowledged
	Bytes   int64 // their keys and values: what MaxBytes bounds
	Queued  int   // records in memory waiting for their group commit
	Full    bool  // over MaxBytes with nothing left to drop: vitals are refused

	Commits      uint64 // write transactions (each fdatasyncs its pages, then its meta page)
	BytesPut     uint64 // key and value bytes those transactions put
	BytesWritten uint64 // page bytes they wrote: leaf, branch and overflow pages plus one meta page each (the SD-card wear)
	FileGrowth   uint64 // bytes the file grew by
	FileSize     int64  // the file's size after the last transaction

	Gaps    uint64 // gap records written
	Dropped uint64 // vitals dropped to stay under MaxBytes
	Refused uint64 // vitals refused while full
	Corrupt uint64 // corrupt records found (reported, skipped, removed)
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Queued = len(s.pend) + s.inflightN
	st.Full = s.full
	return st
}
