package web

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// userPattern bounds a user name so that "<user>@<station name>" fits a
// command's by field (64 characters).
var userPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,30}$`)

// ValidUser reports whether name may be a user name.
func ValidUser(name string) bool { return userPattern.MatchString(name) }

// MaxPasswordBytes is bcrypt's limit: it refuses longer passwords.
const MaxPasswordBytes = 72

// MinPasswordBytes is the shortest password -passwd accepts.
const MinPasswordBytes = 8

// BcryptCost is the work factor of new hashes (about 70 ms on a PC).
const BcryptCost = 10

// LoadUsers reads a users file: "name:bcrypt-hash" lines (htpasswd -B
// format); blank lines and lines starting with # are skipped. Every bad line
// is reported, by number.
func LoadUsers(path string) (map[string][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	users := map[string][]byte{}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s:%d: not name:hash", path, n))
		case !ValidUser(name):
			errs = append(errs, fmt.Errorf("%s:%d: user %q must be 1 to 31 of a-z, 0-9, . _ - (starting with a letter or digit)", path, n, name))
		default:
			if _, err := bcrypt.Cost([]byte(hash)); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: user %s: not a bcrypt hash ($2a$/$2b$/$2y$): %v", path, n, name, err))
				continue
			}
			if _, dup := users[name]; dup {
				errs = append(errs, fmt.Errorf("%s:%d: user %s appears twice", path, n, name))
			}
			users[name] = []byte(hash)
		}
	}
	return users, errors.Join(errs...)
}

// CheckPassword says why a new password is refused, or nil.
func CheckPassword(pw string) error {
	switch {
	case len(pw) > MaxPasswordBytes:
		return fmt.Errorf("the password is %d bytes; bcrypt takes at most %d (a longer one would be cut, so it is refused)", len(pw), MaxPasswordBytes)
	case len(pw) < MinPasswordBytes:
		return fmt.Errorf("the password is %d bytes; give at least %d", len(pw), MinPasswordBytes)
	case strings.ContainsAny(pw, "\r\n\x00"):
		return errors.New("the password contains a line break or NUL")
	}
	return nil
}

// SetUser adds or replaces a user's password in the users file (made, mode
// 0600, if missing). The file is replaced whole (write, sync, rename), so a
// crash leaves the old one or the new one.
func SetUser(path, name, password string) error {
	if !ValidUser(name) {
		return fmt.Errorf("user %q must be 1 to 31 of a-z, 0-9, . _ - (starting with a letter or digit)", name)
	}
	if err := CheckPassword(password); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	if err != nil {
		return fmt.Errorf("bcrypt: %w", err)
	}
	var lines []string
	if b, err := os.ReadFile(path); err == nil {
		for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			if n, _, _ := strings.Cut(strings.TrimSpace(l), ":"); n == name || l == "" {
				continue
			}
			lines = append(lines, l)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("users file: %w", err)
	}
	lines = append(lines, name+":"+string(hash))
	tmp, err := os.CreateTemp(filepath.Dir(path), ".users-*")
	if err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("users file: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("users file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("users file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	return nil
}
