package web

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestSetUser(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users")
	if err := SetUser(p, "ann", "first password"); err != nil {
		t.Fatal(err)
	}
	if err := SetUser(p, "bob", "bobs password"); err != nil {
		t.Fatal(err)
	}
	if err := SetUser(p, "ann", "second password"); err != nil {
		t.Fatal(err)
	}
	users, err := LoadUsers(p)
	if err != nil || len(users) != 2 {
		t.Fatalf("users %v, %v", users, err)
	}
	if bcrypt.CompareHashAndPassword(users["ann"], []byte("second password")) != nil {
		t.Error("ann's new password does not match")
	}
	if bcrypt.CompareHashAndPassword(users["ann"], []byte("first password")) == nil {
		t.Error("ann's old password still matches")
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	for _, c := range []struct{ name, pw, want string }{
		{"ann", strings.Repeat("x", 73), "bcrypt takes at most 72"},
		{"ann", "short", "at least 8"},
		{"Ann Smith", "long enough", "must be 1 to 31"},
		{strings.Repeat("a", 32), "long enough", "must be 1 to 31"},
		{"ann", "line\nbreak!", "line break"},
	} {
		if err := SetUser(p, c.name, c.pw); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SetUser(%q, %d bytes): %v, want %q", c.name, len(c.pw), err, c.want)
		}
	}
}

func TestLoadUsersNamesBadLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users")
	os.WriteFile(p, []byte("# comment\n\nann:$2a$04$abc\nnocolon\nBAD:$2a$10$x\n"), 0o600)
	_, err := LoadUsers(p)
	for _, want := range []string{":3: user ann: not a bcrypt hash", ":4: not name:hash", `:5: user "BAD"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
