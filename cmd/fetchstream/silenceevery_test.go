package main

import (
	"testing"
	"time"
)

// publish --wait speaks after each 10 s of silence, or a third of
// --wait-timeout when shorter, never more often than once a second.
func TestSilenceEvery(t *testing.T) {
	for _, c := range []struct{ timeout, want time.Duration }{
		{0, 10 * time.Second},
		{5 * time.Minute, 10 * time.Second},
		{30 * time.Second, 10 * time.Second},
		{15 * time.Second, 5 * time.Second},
		{2 * time.Second, time.Second},
		{100 * time.Millisecond, time.Second},
	} {
		if got := silenceEvery(c.timeout); got != c.want {
			t.Errorf("--wait-timeout %s: every %s, want %s", c.timeout, got, c.want)
		}
	}
}
