package polite

import (
	"testing"
	"time"
)

// A gate whose cap a fleet shares holds every URL until it has permits,
// lets as many be in flight as it holds (never more than the cap), and,
// when permits are taken back below what is in flight, makes room only
// once enough requests have ended.
func TestGatePermits(t *testing.T) {
	now := time.Now()
	g := NewHostGate(now, 3, 0, 0, 0)
	g.UsePermits()
	if _, blocked := g.Wait(now); !blocked {
		t.Fatal("a gate with no permits let a URL go")
	}
	g.SetPermits(9)
	for i := range 3 {
		if _, blocked := g.Wait(now); blocked {
			t.Fatalf("held the URL %d of a cap of 3 with 9 permits", i)
		}
		g.Take(now)
	}
	if _, blocked := g.Wait(now); !blocked {
		t.Fatal("permits beyond the cap let a 4th URL go")
	}
	g.SetPermits(1)
	if g.Release() {
		t.Error("a release to 2 in flight on 1 permit said it made room")
	}
	if g.Release() {
		t.Error("a release to 1 in flight on 1 permit said it made room")
	}
	if _, blocked := g.Wait(now); !blocked {
		t.Error("1 in flight on 1 permit let another URL go")
	}
	if !g.Release() {
		t.Error("the release to 0 in flight on 1 permit made no room")
	}
	g.SetPermits(-4)
	if _, blocked := g.Wait(now); !blocked || g.Permits() != 0 {
		t.Error("negative permits let a URL go")
	}
	uncapped := NewHostGate(now, 0, 0, 0, 0)
	uncapped.UsePermits()
	if _, blocked := uncapped.Wait(now); blocked || uncapped.Permitted() {
		t.Error("a host without a cap waits for permits")
	}
}
