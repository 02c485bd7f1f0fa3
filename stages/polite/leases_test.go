package polite

import (
	"testing"
	"time"
)

// A fleet-paced gate passes a URL only on a leased slot at or after its
// time, asks for a lease when it has none, holds a pause before any
// lease, and drops slots too late to spend, but a lease that came too
// late for all of its slots still lets one URL go.
func TestLeasedGateSpendsSlots(t *testing.T) {
	now := time.Unix(1000, 0)
	g := NewHostGate(now, 0, 10, 1, 0) // an interval of 100ms
	g.UseLeases()
	if _, blocked := g.Wait(now); !blocked || !g.NeedsLease(now) {
		t.Fatal("a gate with no slot passed, or asked for no lease")
	}
	g.AddLease([]time.Time{now, now.Add(100 * time.Millisecond)}, now)
	if _, blocked := g.Wait(now); blocked {
		t.Fatal("the slot due now did not pass")
	}
	g.Take(now)
	if until, blocked := g.Wait(now); !blocked || !until.Equal(now.Add(100*time.Millisecond)) {
		t.Fatalf("after the first slot: until %v blocked %v, want the second slot's time", until, blocked)
	}
	later := now.Add(time.Second) // the second slot is 900ms late: dropped
	if !g.NeedsLease(later) {
		t.Error("a slot 900ms late at 10 a second was kept")
	}
	g.AddLease([]time.Time{now, now.Add(50 * time.Millisecond)}, later)
	if _, blocked := g.Wait(later); blocked || g.Room(later) != 1 {
		t.Errorf("a lease that came too late: blocked %v, room %d; want one URL to go", blocked, g.Room(later))
	}
	g.Take(later)
	g.Pause(later.Add(time.Minute))
	if until, blocked := g.Wait(later); !blocked || !until.Equal(later.Add(time.Minute)) {
		t.Errorf("paused: until %v blocked %v, want the pause's end (no lease asked meanwhile)", until, blocked)
	}
	if g.LeasesTaken() != 2 {
		t.Errorf("%d slots taken, want 2", g.LeasesTaken())
	}
}

// In a fleet every gate uses leases; one with no pace (a cap only)
// allocates nothing more for them.
func TestUseLeasesAllocatesNothing(t *testing.T) {
	now := time.Unix(1000, 0)
	plain := testing.AllocsPerRun(100, func() { gateSink = NewHostGate(now, 2, 0, 1, 0) })
	leased := testing.AllocsPerRun(100, func() {
		gateSink = NewHostGate(now, 2, 0, 1, 0)
		gateSink.UseLeases()
	})
	if leased != plain {
		t.Errorf("a gate that uses leases: %v allocations, want %v as without", leased, plain)
	}
	if !gateSink.Leased() {
		t.Error("the gate does not say it is leased")
	}
}

var gateSink Gate
