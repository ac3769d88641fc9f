package hl7

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	msgs := [][]byte{[]byte("MSH|^~\\&|A\rMSA|AA|1\r"), {}, []byte("é")}
	for _, m := range msgs {
		if err := WriteFrame(&buf, m); err != nil {
			t.Fatal(err)
		}
		buf.WriteString("\r\n") // a sender's line end between frames is skipped
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte{0x0b, 'M'}) || !bytes.Contains(buf.Bytes(), []byte{'\r', 0x1c, 0x0d}) {
		t.Fatalf("frame bytes wrong: %q", buf.Bytes())
	}
	fr := NewFrameReader(&buf, 0)
	for _, want := range msgs {
		got, err := fr.ReadFrame()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("ReadFrame = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := fr.ReadFrame(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestWriteFrameRefusesFrameBytes(t *testing.T) {
	for _, m := range []string{"a\x0bb", "a\x1cb"} {
		var buf bytes.Buffer
		if err := WriteFrame(&buf, []byte(m)); err == nil || buf.Len() != 0 {
			t.Errorf("WriteFrame(%q) wrote %q, err %v", m, buf.Bytes(), err)
		}
	}
}

func TestReadFrameErrors(t *testing.T) {
	for name, c := range map[string]struct {
		in   string
		max  int
		want string
	}{
		"garbage before":      {"xx\x0bA\x1c\r", 0, "outside a frame"},
		"start inside":        {"\x0bA\x0bB\x1c\r", 0, "start byte inside"},
		"end without CR":      {"\x0bA\x1cB", 0, "not 0x0D"},
		"ends inside":         {"\x0bABC", 0, "ended inside a frame"},
		"ends after end byte": {"\x0bABC\x1c", 0, "after the end byte"},
		"too large":           {"\x0b" + strings.Repeat("A", 11) + "\x1c\r", 10, "too large"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewFrameReader(strings.NewReader(c.in), c.max).ReadFrame()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
		})
	}
	_, err := NewFrameReader(strings.NewReader("\x0b"+strings.Repeat("A", 11)+"\x1c\r"), 10).ReadFrame()
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversized frame: %v is not ErrFrameTooLarge", err)
	}
	if got, err := NewFrameReader(strings.NewReader("\x0b"+strings.Repeat("A", 10)+"\x1c\r"), 10).ReadFrame(); err != nil || len(got) != 10 {
		t.Errorf("frame of exactly the bound: %q, %v", got, err)
	}
}

// FuzzFrameReader: any byte stream gives frames or an error, never a panic
// or a hang; a frame read holds no frame byte, and written again it reads
// back the same.
func FuzzFrameReader(f *testing.F) {
	for _, s := range []string{"\x0bMSH|^~\\&\rMSA|AA|1\r\x1c\r", "\r\n\x0bA\x1c\r\x0bB\x1c\r", "\x0b\x1c", "junk", "\x0b\x0b\x1c\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := NewFrameReader(bytes.NewReader(in), 1024)
		for range len(in) + 1 {
			msg, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if len(msg) > 1024 || bytes.ContainsAny(msg, "\x0b\x1c") {
				t.Fatalf("frame %q breaks the bound or holds a frame byte", msg)
			}
			var buf bytes.Buffer
			if err := WriteFrame(&buf, msg); err != nil {
				t.Fatal(err)
			}
			again, err := NewFrameReader(&buf, 1024).ReadFrame()
			if err != nil || !bytes.Equal(again, msg) {
				t.Fatalf("frame %q written and read back as %q, %v", msg, again, err)
			}
		}
		t.Fatal("more frames than input bytes")
	})
}
