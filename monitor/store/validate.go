package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// checkFile walks the structure of an existing bbolt file with plain reads
// before bbolt maps it. bbolt trusts its page pointers: a truncated file or a
// garbled branch page makes it read past the end of its mapping (SIGBUS or
// SIGSEGV, which no recover catches), or panic in a goroutine of its own while
// it rebuilds the freelist at Open. So every page bbolt will touch at Open is
// checked here first: the meta page it will choose, the freelist page if one
// is synced, every branch and leaf page reachable from the root, every
// element's bounds, every nested and inline bucket.
//
// It reads each in-use page once; bbolt's own freelist rebuild (NoFreelistSync)
// reads them again, mostly from the page cache.
func checkFile(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	m, err := chooseMeta(f, size)
	if err != nil {
		return err
	}
	w := walker{f: f, size: size, psz: int64(m.pageSize), hwm: m.pgid, seen: map[uint64]bool{0: true, 1: true}}
	if m.pgid > uint64(size)/uint64(w.psz) {
		return fmt.Errorf("%w: truncated: meta says %d pages of %d bytes, the file holds %d bytes", ErrCorrupt, m.pgid, m.pageSize, size)
	}
	if m.root >= m.pgid || m.root < 2 {
		return fmt.Errorf("%w: root page %d outside 2..%d", ErrCorrupt, m.root, m.pgid)
	}
	var free []uint64
	if m.freelist != noFreelist {
		if free, err = w.freelist(m.freelist); err != nil {
			return err
		}
	}
	if _, err = w.bucketPage(m.root, nil, nil, 0); err != nil {
		return err
	}
	// A page both free and in use would be handed out again and overwrite
	// live data.
	for _, id := range free {
		if w.seen[id] {
			return fmt.Errorf("%w: page %d is listed free twice, or free and in use", ErrCorrupt, id)
		}
		w.seen[id] = true
	}
	return nil
}

// bbolt on-file constants (go.etcd.io/bbolt/internal/common). The layout is
// native-endian; every Go target chairside runs on (amd64, arm, arm64) is
// little-endian, and bbolt would not read a big-endian file there either.
const (
	boltMagic     = 0xED0CDAED
	boltVersion   = 2
	pageHeaderLen = 16 // id u64, flags u16, count u16, overflow u32
	elemLen       = 16 // branch: pos, ksize, pgid; leaf: flags, pos, ksize, vsize
	bucketHdrLen  = 16 // root pgid, sequence
	branchFlag    = 0x01
	leafFlag      = 0x02
	metaFlag      = 0x04
	freelistFlag  = 0x10
	bucketLeaf    = 0x01
	noFreelist    = ^uint64(0)
	maxDepth      = 64 // far deeper than any real tree; stops pointer cycles
)

var le = binary.LittleEndian

type metaPage struct {
	pageSize       uint32
	root, freelist uint64
	pgid, txid     uint64
	valid          bool
	invalidBecause string
}

// readMeta parses the meta page at off; valid says whether its magic, version
// and checksum hold, exactly what bbolt's Meta.Validate checks.
func readMeta(f *os.File, off int64) metaPage {
	var b [pageHeaderLen + 64]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return metaPage{invalidBecause: "unreadable"}
	}
	m := b[pageHeaderLen:]
	mp := metaPage{
		pageSize: le.Uint32(m[8:]),
		root:     le.Uint64(m[16:]),
		freelist: le.Uint64(m[32:]),
		pgid:     le.Uint64(m[40:]),
		txid:     le.Uint64(m[48:]),
	}
	h := fnv.New64a()
	h.Write(m[:56])
	switch {
	case le.Uint32(m[0:]) != boltMagic:
		mp.invalidBecause = "no bbolt magic"
	case le.Uint32(m[4:]) != boltVersion:
		mp.invalidBecause = "bbolt version mismatch"
	case le.Uint64(m[56:]) != h.Sum64():
		mp.invalidBecause = "meta checksum mismatch"
	default:
		mp.valid = true
	}
	return mp
}

// chooseMeta finds the page size and the meta page bbolt will use, as bbolt
// does: the page size from meta page 0, or if that one is bad from the first
// valid meta page 1 found at 1 KiB, 2 KiB, ...; then the valid meta with the
// higher transaction id. Anything bbolt would read differently is refused.
func chooseMeta(f *os.File, size int64) (metaPage, error) {
	if size < 2*1024 {
		return metaPage{}, fmt.Errorf("%w: %d bytes is too short for a bbolt file", ErrCorrupt, size)
	}
	m0, m1 := readMeta(f, 0), metaPage{invalidBecause: "not found"}
	if m0.valid {
		m1 = readMeta(f, int64(m0.pageSize))
	} else {
		for psz := int64(1024); psz <= 1<<16 && psz < size-1024; psz *= 2 {
			if m := readMeta(f, psz); m.valid {
				m1 = m
				break
			}
		}
	}
	var m metaPage
	switch {
	case m0.valid && m1.valid && m1.txid > m0.txid:
		m = m1
	case m0.valid:
		m = m0
	case m1.valid:
		m = m1
	default:
		return metaPage{}, fmt.Errorf("%w: not a bbolt file, or both meta pages are bad (page 0: %s; page 1: %s)", ErrCorrupt, m0.invalidBecause, m1.invalidBecause)
	}
	psz := m.pageSize
	if psz < 1024 || psz > 1<<16 || psz&(psz-1) != 0 || (m0.valid && m0.pageSize != psz) || (m1.valid && m1.pageSize != psz) {
		return metaPage{}, fmt.Errorf("%w: implausible or inconsistent page size %d", ErrCorrupt, psz)
	}
	return m, nil
}

type walker struct {
	f    *os.File
	size int64
	psz  int64
	hwm  uint64
	seen map[uint64]bool
}

// page reads page id with its overflow pages after checking that it lies
// within the high-water mark and the file, that it says it is page id, and
// that no other pointer reached it before.
func (w *walker) page(id uint64) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, fmt.Errorf("%w: page pointer %d outside 2..%d", ErrCorrupt, id, w.hwm)
	}
	if w.seen[id] {
		return nil, fmt.Errorf("%w: page %d is referenced twice", ErrCorrupt, id)
	}
	var hdr [pageHeaderLen]byte
	if _, err := w.f.ReadAt(hdr[:], int64(id)*w.psz); err != nil {
		return nil, fmt.Errorf("%w: page %d: %v", ErrCorrupt, id, err)
	}
	if got := le.Uint64(hdr[0:]); got != id {
		return nil, fmt.Errorf("%w: page %d says it is page %d", ErrCorrupt, id, got)
	}
	over := uint64(le.Uint32(hdr[12:]))
	if id+over >= w.hwm {
		return nil, fmt.Errorf("%w: page %d overflows past the high-water mark", ErrCorrupt, id)
	}
	for i := id; i <= id+over; i++ {
		if w.seen[i] {
			return nil, fmt.Errorf("%w: page %d is referenced twice", ErrCorrupt, i)
		}
		w.seen[i] = true
	}
	buf := make([]byte, int64(over+1)*w.psz)
	if _, err := w.f.ReadAt(buf, int64(id)*w.psz); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: page %d: %v", ErrCorrupt, id, err)
	}
	return buf, nil
}

// freelist checks a synced freelist page (only a file bbolt has just
// created, or one written without NoFreelistSync, has one) and returns the
// free page ids it lists.
func (w *walker) freelist(id uint64) ([]uint64, error) {
	p, err := w.page(id)
	if err != nil {
		return nil, fmt.Errorf("freelist: %w", err)
	}
	if le.Uint16(p[8:]) != freelistFlag {
		return nil, fmt.Errorf("%w: freelist page %d has flags %#x", ErrCorrupt, id, le.Uint16(p[8:]))
	}
	start, n := uint64(0), uint64(le.Uint16(p[10:]))
	if n == 0xFFFF { // the count overflowed into the first element
		if len(p) < pageHeaderLen+8 {
			return nil, fmt.Errorf("%w: freelist page %d too short", ErrCorrupt, id)
		}
		start, n = 1, le.Uint64(p[pageHeaderLen:])
	}
	if n > uint64(len(p)) || pageHeaderLen+(start+n)*8 > uint64(len(p)) {
		return nil, fmt.Errorf("%w: freelist page %d claims %d ids", ErrCorrupt, id, n)
	}
	free := make([]uint64, 0, n)
	for i := start; i < start+n; i++ {
		f := le.Uint64(p[pageHeaderLen+i*8:])
		if f < 2 || f >= w.hwm {
			return nil, fmt.Errorf("%w: freelist page %d lists page %d, outside 2..%d", ErrCorrupt, id, f, w.hwm)
		}
		free = append(free, f)
	}
	return free, nil
}

// bucketPage checks the tree rooted at page id: a branch or leaf page whose
// keys must lie in [lo, hi) (nil: unbounded). It returns the subtree's
// largest key, as bbolt's key-order check does.
func (w *walker) bucketPage(id uint64, lo, hi []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: tree deeper than %d at page %d", ErrCorrupt, maxDepth, id)
	}
	p, err := w.page(id)
	if err != nil {
		return nil, err
	}
	return w.nodePage(p, id, lo, hi, depth)
}

// nodePage checks a branch or leaf page held in p (a file page, or an inline
// bucket's page inside its parent's value; then id is the parent's), with the
// same key-order rules as bbolt's Tx.Check: strictly increasing keys, the
// first not below lo, all below hi. bbolt runs that check while it rebuilds
// the freelist at Open and panics on the first violation, in a state this
// package cannot clean up after; so it must find none.
func (w *walker) nodePage(p []byte, id uint64, lo, hi []byte, depth int) ([]byte, error) {
	if len(p) < pageHeaderLen {
		return nil, fmt.Errorf("%w: page in %d too short", ErrCorrupt, id)
	}
	flags, count := le.Uint16(p[8:]), int(le.Uint16(p[10:]))
	if pageHeaderLen+count*elemLen > len(p) {
		return nil, fmt.Errorf("%w: page %d: %d elements do not fit", ErrCorrupt, id, count)
	}
	if flags != branchFlag && flags != leafFlag {
		return nil, fmt.Errorf("%w: page %d has flags %#x, want a branch or leaf", ErrCorrupt, id, flags)
	}
	if flags == branchFlag && count == 0 {
		// bbolt's cursor reads element 0 of a branch page whatever its count.
		return nil, fmt.Errorf("%w: branch page %d is empty", ErrCorrupt, id)
	}
	keys := make([][]byte, count)
	vals := make([][]byte, count)
	for i := range count {
		e := p[pageHeaderLen+i*elemLen:]
		var err error
		if flags == branchFlag {
			keys[i], err = span(p, pageHeaderLen+i*elemLen, le.Uint32(e[0:]), le.Uint32(e[4:]), 0)
		} else {
			keys[i], vals[i], err = spanKV(p, pageHeaderLen+i*elemLen, le.Uint32(e[4:]), le.Uint32(e[8:]), le.Uint32(e[12:]))
		}
		if err != nil {
			return nil, fmt.Errorf("%w: page %d element %d: %v", ErrCorrupt, id, i, err)
		}
	}
	running, maxKey := lo, []byte(nil)
	for i := range count {
		if err := keyOrder(i, keys[i], running, hi); err != nil {
			return nil, fmt.Errorf("%w: page %d element %d: %v", ErrCorrupt, id, i, err)
		}
		e := p[pageHeaderLen+i*elemLen:]
		if flags == leafFlag {
			running, maxKey = keys[i], keys[i]
			if le.Uint32(e[0:])&bucketLeaf != 0 {
				if err := w.bucket(vals[i], id, depth); err != nil {
					return nil, err
				}
			}
			continue
		}
		next := hi
		if i < count-1 {
			next = keys[i+1]
		}
		var err error
		if maxKey, err = w.bucketPage(le.Uint64(e[8:]), keys[i], next, depth+1); err != nil {
			return nil, err
		}
		running = maxKey
	}
	return maxKey, nil
}

// keyOrder is bbolt's verifyKeyOrder as a predicate.
func keyOrder(i int, key, prev, hi []byte) error {
	switch {
	case i == 0 && prev != nil && bytes.Compare(prev, key) > 0:
		return fmt.Errorf("first key below its ancestor's")
	case i > 0 && bytes.Compare(prev, key) >= 0:
		return fmt.Errorf("keys out of order")
	case hi != nil && bytes.Compare(key, hi) >= 0:
		return fmt.Errorf("key not below the next ancestor key")
	}
	return nil
}

// bucket checks a bucket value: a header, then either a root page pointer or
// (root 0) an inline leaf page.
func (w *walker) bucket(v []byte, parent uint64, depth int) error {
	if len(v) < bucketHdrLen {
		return fmt.Errorf("%w: bucket value in page %d is %d bytes", ErrCorrupt, parent, len(v))
	}
	if depth > maxDepth {
		return fmt.Errorf("%w: buckets nested deeper than %d", ErrCorrupt, maxDepth)
	}
	if root := le.Uint64(v); root != 0 {
		_, err := w.bucketPage(root, nil, nil, depth+1)
		return err
	}
	inline := v[bucketHdrLen:]
	if len(inline) < pageHeaderLen || le.Uint16(inline[8:]) != leafFlag {
		return fmt.Errorf("%w: inline bucket in page %d is not a leaf", ErrCorrupt, parent)
	}
	_, err := w.nodePage(inline, parent, nil, nil, depth+1)
	return err
}

// span returns the key of the element at offset elem of p, which starts pos
// bytes after the element, after checking it lies within p.
func span(p []byte, elem int, pos, ksize, _ uint32) ([]byte, error) {
	k, _, err := spanKV(p, elem, pos, ksize, 0)
	return k, err
}

// spanKV returns the key and value of a leaf element, checked to lie in p.
func spanKV(p []byte, elem int, pos, ksize, vsize uint32) (key, val []byte, err error) {
	start := uint64(elem) + uint64(pos)
	mid := start + uint64(ksize)
	end := mid + uint64(vsize)
	if end > uint64(len(p)) {
		return nil, nil, fmt.Errorf("key/value [%d,%d) beyond the page's %d bytes", start, end, len(p))
	}
	return p[start:mid], p[mid:end], nil
}
