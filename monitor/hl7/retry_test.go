package hl7

import (
	"errors"
	"testing"
	"time"
)

func TestPolicyDelay(t *testing.T) {
	p := Policy{First: time.Second, Max: 10 * time.Second}
	want := []time.Duration{0, 1, 2, 4, 8, 10, 10}
	for i, w := range want {
		if got := p.Delay(i); got != w*time.Second {
			t.Errorf("Delay(%d) = %v, want %v", i, got, w*time.Second)
		}
	}
	if got := p.Delay(1 << 30); got != 10*time.Second {
		t.Errorf("after very many failures: %v", got)
	}
	if got := (Policy{}).Delay(1); got != DefaultPolicy.First {
		t.Errorf("zero policy: %v", got)
	}
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	if got := p.Next(now, 3); !got.Equal(now.Add(4 * time.Second)) {
		t.Errorf("Next = %v", got)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		ack  Ack
		err  error
		want Outcome
	}{
		{Ack{Code: "AA"}, nil, Delivered},
		{Ack{Code: "CA"}, nil, Delivered},
		{Ack{Code: "AE"}, nil, Refused},
		{Ack{Code: "AR"}, nil, Refused},
		{Ack{Code: "CR"}, nil, Refused},
		{Ack{Code: "AA"}, errors.New("mismatch"), Retry},
		{Ack{}, errors.New("timeout"), Retry},
		{Ack{}, nil, Retry},
	} {
		if got := Classify(c.ack, c.err); got != c.want {
			t.Errorf("Classify(%+v, %v) = %v, want %v", c.ack, c.err, got, c.want)
		}
	}
}
