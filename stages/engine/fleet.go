package engine

import (
	"context"
	"math"
	"time"

	"github.com/fetchstream/fetchstream/stages/polite"
)

// This file is part of layer 3, politeness (see the package doc): what
// the engine asks of a fleet of replicas that share their per-host rules
// (FetchConfig.Fleet), and what it does with the answers. The dispatcher
// never waits on the fleet: it asks (Lease, Pause) without blocking and
// hears back on Events, a case of its select. Cost: nothing for a host
// with no pace; for a paced one, a lease per up to leaseAhead of its rate,
// O(parked lanes) to size it.

// Fleet is politeness shared by the replicas of a fleet: one pace per
// gate key, one pause per host, one robots.txt per site (package
// stages/fleet implements it on NATS JetStream). Lease and Pause must not
// block: the dispatcher calls them. Their answers, and the pauses other
// replicas saw, come on Events, which the dispatcher reads until its stage
// ends (the fleet never closes it, and must give up a send when its
// context ends). Robots is called from the goroutine of a robots.txt fetch.
type Fleet interface {
	// Lease asks for n slots of key's pace (perSecond, a bucket of
	// burst); one FleetEvent with Slots answers it, always, unless the
	// fleet stops: when the fleet cannot be reached, slots of this
	// replica's own pace.
	Lease(key string, perSecond float64, burst, n int)
	// Pause tells the fleet that host (a host key) is paused until until,
	// as this replica saw.
	Pause(host string, until time.Time)
	// SlowDown tells the fleet that host answered 429 or 503 without
	// Retry-After here: the other replicas halve their pace for it too
	// (this one has).
	SlowDown(host string)
	// Robots returns origin's robots.txt, fetched once for the fleet:
	// from the fleet's copy while it is fresh for ttl (its Age set),
	// else by fetch (by this replica or another).
	Robots(ctx context.Context, origin string, ttl time.Duration, fetch func() polite.RobotsFetch) polite.RobotsFetch
	// Events delivers leases and pauses.
	Events() <-chan FleetEvent
}

// FleetEvent is a lease (Key is a gate's, Slots its start times in order),
// a pause (Host is paused until PausedUntil, as PausedBy saw), or a
// slow-down another replica saw (Host, SlowedDown).
type FleetEvent struct {
	Key   string
	Slots []time.Time

	Host        string
	PausedUntil time.Time
	PausedBy    string
	SlowedDown  bool
}

// leaseAhead bounds a lease: at most this much of a host's rate at once,
// so a replica that dies holds the others back no longer than that.
const leaseAhead = 500 * time.Millisecond

// askLease asks the fleet for slots for g, when it needs some and none
// is asked for: as many as URLs wait on it, at most leaseAhead of its
// rate.
func (h *hosts) askLease(g *gate, now time.Time) {
	if h.fleet == nil || g.leasing || !g.NeedsLease(now) {
		return
	}
	rate := g.Rate()
	demand := 0
	for _, l := range g.waiting() {
		demand += l.len()
	}
	n := min(max(demand, 1), max(1, int(math.Ceil(rate*leaseAhead.Seconds()))))
	g.leasing = true
	h.work.leases++
	h.fleet.Lease(g.key, rate, g.Burst(), n)
}

// fleetEvent files a lease on its gate (one that was forgotten meanwhile
// loses it), a pause another replica (or this one) saw, or another's
// slow-down.
func (h *hosts) fleetEvent(e FleetEvent, now time.Time) (startedPausing bool) {
	if e.Host != "" && e.SlowedDown {
		return h.slowDown(hostSignal{key: e.Host, retryAfter: -1, at: now, fromFleet: true})
	}
	if e.Host != "" {
		if !e.PausedUntil.After(now) {
			return false
		}
		return h.slowDown(hostSignal{key: e.Host, retryAfter: e.PausedUntil.Sub(now), at: now, by: e.PausedBy, fromFleet: true})
	}
	g := h.gates[e.Key]
	if g == nil {
		return false
	}
	g.leasing = false
	g.AddLease(e.Slots, now)
	h.open(g)
	return false
}
