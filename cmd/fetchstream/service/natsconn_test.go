package service

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Reconnect pauses double up to a cap, with jitter in the upper half.
func TestReconnectDelayBacksOffWithJitter(t *testing.T) {
	cases := []struct {
		attempts int
		lo, hi   time.Duration
	}{
		{0, 125 * time.Millisecond, 250 * time.Millisecond},
		{1, 125 * time.Millisecond, 250 * time.Millisecond},
		{2, 250 * time.Millisecond, 500 * time.Millisecond},
		{4, time.Second, 2 * time.Second},
		{6, 4 * time.Second, 8 * time.Second},
		{1000, 4 * time.Second, 8 * time.Second},
	}
	for _, c := range cases {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := reconnectDelay(c.attempts)
			if d < c.lo || d > c.hi {
				t.Errorf("attempt %d: delay %s outside [%s, %s]", c.attempts, d, c.lo, c.hi)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("attempt %d: only %d distinct delays in 200: no jitter", c.attempts, len(seen))
		}
	}
}

// A failed connect names the server without its password.
func TestConnectErrorHidesPassword(t *testing.T) {
	cfg := testConfig("nats://alice:s3cret@127.0.0.1:1,nats://127.0.0.1:2", nil)
	svc, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second) // no server answers: it would wait for one
	defer cancel()
	err = svc.Run(ctx)
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "alice") {
		t.Errorf("got %v, want an error naming the servers without the password", err)
	}
}
