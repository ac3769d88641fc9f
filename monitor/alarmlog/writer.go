package alarmlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// DefaultMaxBytes is the size past which the log is rotated: about 50 000
// entries, months of sessions; alarm.log.1 keeps as many again.
const DefaultMaxBytes = 16 << 20

// maxPending bounds the entries a failing disk holds for the next Append; the
// oldest are dropped past it (and counted in the error), so a dead disk
// cannot grow the daemon without bound.
const maxPending = 4096

// Writer appends entries to the log in a directory. It is not safe for
// concurrent use: the daemon's disk goroutine is its only caller, so that a
// hung disk holds up nothing else.
type Writer struct {
	dir      string
	f        *os.File
	size     int64
	maxBytes int64
	pending  [][]byte
	dropped  int
}

// New makes a writer for the log in dir; it touches no file until Open or
// Append, so that making it cannot hang on a hung disk. maxBytes <= 0 means
// DefaultMaxBytes.
func New(dir string, maxBytes int64) *Writer {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Writer{dir: dir, maxBytes: maxBytes}
}

// Open opens (creating it and its directory if needed) the log for
// appending, if it is not open yet. created says that the file did not
// exist: the caller may copy older entries into it. A file ending in a torn
// line (a power cut while writing) gets a newline first, so the next entry
// starts on a line of its own.
func (w *Writer) Open() (created bool, err error) {
	if w.f != nil {
		return false, nil
	}
	return w.open()
}

func (w *Writer) path() string { return filepath.Join(w.dir, FileName) }

func (w *Writer) open() (created bool, err error) {
	path := w.path()
	if err := os.MkdirAll(w.dir, 0o750); err != nil {
		return false, fmt.Errorf("alarm log %s: %w", path, err)
	}
	if _, serr := os.Stat(path); errors.Is(serr, os.ErrNotExist) {
		created = true
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return false, fmt.Errorf("alarm log %s: %w", path, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return false, fmt.Errorf("alarm log %s: %w", path, err)
	}
	if size > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err != nil {
			f.Close()
			return false, fmt.Errorf("alarm log %s: reading its end: %w", path, err)
		}
		if last[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				f.Close()
				return false, fmt.Errorf("alarm log %s: ending its torn last line: %w", path, err)
			}
			size++
		}
	}
	if created {
		if err := syncDir(w.dir); err != nil {
			f.Close()
			return false, fmt.Errorf("alarm log %s: %w", path, err)
		}
	}
	w.f, w.size = f, size
	return created, nil
}

// Append writes entries, with any a failed Append left, and fsyncs them. On
// an error nothing of this write stays in the file (it is cut back), and the
// entries are kept for the next Append: do not append them again.
func (w *Writer) Append(entries ...Entry) error {
	var bad error
	for _, e := range entries {
		line, err := encodeLine(e)
		if err != nil {
			bad = errors.Join(bad, err)
			continue
		}
		w.pending = append(w.pending, line)
	}
	if n := len(w.pending) - maxPending; n > 0 {
		w.pending = w.pending[n:]
		w.dropped += n
	}
	if len(w.pending) == 0 {
		return bad
	}
	if err := w.write(); err != nil {
		return errors.Join(bad, err)
	}
	return bad
}

func (w *Writer) write() error {
	if w.f == nil {
		if _, err := w.open(); err != nil {
			return w.failed(err)
		}
	}
	var buf []byte
	for _, l := range w.pending {
		buf = append(buf, l...)
	}
	n, err := w.f.Write(buf)
	if err == nil {
		err = w.f.Sync()
	}
	if err != nil {
		// Cut back what went in, so a retry does not log it twice; if even
		// that fails, the next open starts on a new line.
		if terr := w.f.Truncate(w.size); terr != nil && n > 0 {
			w.f.Close()
			w.f = nil
		}
		return w.failed(fmt.Errorf("alarm log %s: %w", w.path(), err))
	}
	w.size += int64(n)
	w.pending = w.pending[:0]
	w.dropped = 0
	if w.size >= w.maxBytes {
		if err := w.rotate(); err != nil {
			return fmt.Errorf("alarm log %s: rotating: %w", w.path(), err)
		}
	}
	return nil
}

func (w *Writer) failed(err error) error {
	if w.dropped > 0 {
		return fmt.Errorf("%w (%d older entries not kept: too many waiting)", err, w.dropped)
	}
	return err
}

// rotate renames the full log to alarm.log.1 and starts a new one.
func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	w.f = nil
	if err := os.Rename(w.path(), filepath.Join(w.dir, OldFileName)); err != nil {
		return err
	}
	_, err := w.open()
	return err
}

// Close closes the file.
func (w *Writer) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
