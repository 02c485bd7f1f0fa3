package polite

import (
	"testing"
	"time"
)

// A 429 or 503 without Retry-After halves a paced host's rate; successes
// give it back an eighth at a time, never beyond the rate set.
func TestGateSlowDownAndRestore(t *testing.T) {
	now := time.Now()
	g := NewPaceGate(now, 10)
	g.SlowDown(now)
	if got := g.lim.Limit(); got != 5 {
		t.Fatalf("after a slow-down the rate is %v, want 5", got)
	}
	for range 5 {
		g.Succeeded(now)
	}
	if got := g.lim.Limit(); got >= 10 || got <= 5 {
		t.Fatalf("after 5 successes the rate is %v, want between 5 and 10", got)
	}
	for range 10 {
		g.Succeeded(now)
	}
	if got := g.lim.Limit(); got != 10 || g.factor != 1 {
		t.Fatalf("after 15 successes the rate is %v (factor %v), want 10", got, g.factor)
	}
	unpaced := NewHostGate(now, 0, 0, 0, 0)
	unpaced.SlowDown(now) // no pace: nothing to halve
	if unpaced.lim != nil || unpaced.factor != 1 {
		t.Error("a slow-down gave a pace to a host without one")
	}
}
