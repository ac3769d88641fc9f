package alarmlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// maxLine bounds one line a reader takes: a longer one is reported and
// skipped, never read whole into memory.
const maxLine = 1 << 20

// LineError is a line that was skipped: torn (no newline at the end of the
// file) or corrupt.
type LineError struct {
	File string
	Line int
	Torn bool
	Err  error
}

func (e *LineError) Error() string {
	if e.Torn {
		return fmt.Sprintf("%s line %d: torn last line, skipped (a power cut while it was written, or it is being written now)", e.File, e.Line)
	}
	return fmt.Sprintf("%s line %d: corrupt, skipped: %v", e.File, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// Exists says whether dir holds a log (alarm.log or alarm.log.1).
func Exists(dir string) bool {
	for _, name := range []string{OldFileName, FileName} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

// Read calls fn with every entry in dir's log, oldest first (alarm.log.1,
// then alarm.log), and bad with every line it skips. It takes no lock: a
// running daemon goes on appending meanwhile. An error from fn stops the
// walk and is returned; a missing file is no error.
func Read(dir string, fn func(Entry) error, bad func(*LineError)) error {
	for _, name := range []string{OldFileName, FileName} {
		path := filepath.Join(dir, name)
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("alarm log %s: %w", path, err)
		}
		err = readFile(path, f, fn, bad)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func readFile(path string, r io.Reader, fn func(Entry) error, bad func(*LineError)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, complete, err := readLine(br)
		if len(line) == 0 && err == io.EOF {
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("alarm log %s: line %d: %w", path, n, err)
		}
		switch {
		case !complete && err == io.EOF:
			bad(&LineError{File: path, Line: n, Torn: true})
			return nil
		case !complete:
			bad(&LineError{File: path, Line: n, Err: fmt.Errorf("longer than %d bytes", maxLine)})
		case len(bytes.TrimSpace(line)) == 0:
			// An empty line: a torn one that a writer ended.
		default:
			e, derr := decodeLine(line)
			if derr != nil {
				bad(&LineError{File: path, Line: n, Err: derr})
				continue
			}
			if ferr := fn(e); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readLine reads one line without its newline. complete is false for a
// line cut by the end of the file (err is io.EOF) or longer than maxLine
// (err is nil; the rest of it is read and dropped).
func readLine(br *bufio.Reader) (line []byte, complete bool, err error) {
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > maxLine {
				tooLong = true
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == nil && tooLong:
			return nil, false, nil
		case err == nil:
			return line[:len(line)-1], true, nil
		default:
			return line, false, err
		}
	}
}
