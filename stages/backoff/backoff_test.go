package backoff

import (
	"context"
	"testing"
	"time"
)

// Each jitter stays in its range below the doubling ceiling and spreads
// over that range.
func TestDelayStaysInItsRangeAndSpreads(t *testing.T) {
	for _, jitter := range []Jitter{Full, Equal} {
		e := Exponential{Base: 100 * time.Millisecond, Max: time.Second, Jitter: jitter}
		for n, ceiling := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
			ceiling *= time.Millisecond
			if got := e.Ceiling(n + 1); got != ceiling {
				t.Fatalf("Ceiling(%d) = %s, want %s", n+1, got, ceiling)
			}
			low, high := time.Duration(0), ceiling-1
			if jitter == Equal {
				low, high = ceiling/2, ceiling
			}
			least, most := high, low
			seen := map[time.Duration]bool{}
			for range 2000 {
				d := e.Delay(n + 1)
				if d < low || d > high {
					t.Fatalf("jitter %d: Delay(%d) = %s, outside [%s, %s]", jitter, n+1, d, low, high)
				}
				least, most = min(least, d), max(most, d)
				seen[d] = true
			}
			span := high - low
			if most-least < span*8/10 || len(seen) < 1000 {
				t.Errorf("jitter %d, Delay(%d): spread %s..%s of %s..%s, %d distinct of 2000", jitter, n+1, least, most, low, high, len(seen))
			}
		}
	}
	if d := (Exponential{Max: time.Second}).Delay(3); d != 0 {
		t.Errorf("zero base: %s, want 0", d)
	}
	if d := (Exponential{Base: time.Hour, Max: 2 * time.Hour, Jitter: Equal}).Delay(10); d > 2*time.Hour {
		t.Errorf("%s above its max", d)
	}
	if c := (Exponential{Base: time.Second, Max: time.Minute}).Ceiling(1000); c != time.Minute {
		t.Errorf("Ceiling(1000) = %s: the doubling must stop at Max without overflowing", c)
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	if !Sleep(ctx, time.Millisecond) {
		t.Error("Sleep returned false with a live context")
	}
	cancel()
	start := time.Now()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep returned true with a canceled context")
	}
	if Sleep(ctx, 0) {
		t.Error("Sleep(0) returned true with a canceled context")
	}
	if time.Since(start) > time.Second {
		t.Error("Sleep did not return at once for a canceled context")
	}
}
