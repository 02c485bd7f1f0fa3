package engine

import (
	"context"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages/polite"
)

// demandsFleet is a Fleet that records the demands told it and answers
// nothing: the dispatcher's side of the fleet's caps, without NATS.
type demandsFleet struct{ seen []uint64 }

func (f *demandsFleet) Lease(string, float64, int, int) {}
func (f *demandsFleet) Demand(_ string, _, _, _ int, seen uint64) {
	f.seen = append(f.seen, seen)
}
func (f *demandsFleet) Pause(string, time.Time) {}
func (f *demandsFleet) SlowDown(string)         {}
func (f *demandsFleet) Robots(_ context.Context, _ string, _ time.Duration, fetch func() polite.RobotsFetch) polite.RobotsFetch {
	return fetch()
}
func (f *demandsFleet) Events() <-chan FleetEvent { return nil }

// A host gate the sweep forgets tells the fleet so, whatever it told it
// before: a grant sent meanwhile finds no gate and is never seen, and
// without the word the fleet would hold its permits for good.
func TestSweptGateTellsTheFleetItIsForgotten(t *testing.T) {
	fleet := &demandsFleet{}
	h := hosts{cfg: FetchConfig{PerHost: 2, PerHostKey: polite.HostKeyHost}, gates: map[string]*gate{}, fleet: fleet}
	g := h.hostGate("a.example:80")
	h.noteDemand(g) // nothing in flight or queued, no grant seen
	h.sweep(time.Now().Add(time.Minute))
	if len(h.gates) != 0 {
		t.Fatalf("the sweep kept %d gates, want none", len(h.gates))
	}
	if n := len(fleet.seen); n == 0 || fleet.seen[n-1] != GateForgotten {
		t.Errorf("the fleet was told seen %v, want the last GateForgotten", fleet.seen)
	}
	if h.fleetEvent(FleetEvent{Host: "a.example:80", Granted: true, Permits: 2, Grant: 1}, time.Now()); len(h.gates) != 0 {
		t.Error("a grant after the sweep made the gate anew")
	}
}
