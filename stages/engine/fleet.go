package engine

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/fetchstream/fetchstream/stages/polite"
)

// This file is part of layer 3, politeness (see the package doc): what
// the engine asks of a fleet of replicas that share their per-host rules
// (FetchConfig.Fleet), and what it does with the answers. The dispatcher
// never waits on the fleet: it asks (Lease, Pause, Demand) without
// blocking and hears back on Events, a case of its select. Cost: nothing
// for a host with no pace or cap; for a paced one, a lease per up to
// leaseAhead of its rate, O(parked lanes) to size it; for a capped one, a
// Demand call (O(1), no I/O) when its requests in flight or its URLs
// waiting change.

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
	// Demand tells the fleet that this replica has inFlight requests to
	// host (a host key) under way and waiting more URLs for it, under a
	// cap of limit in flight for the whole fleet, and that the last grant
	// it applied is seen (0: none). The fleet answers, now or later and
	// again whenever they change, with this replica's permits for the
	// host (a FleetEvent with Granted, numbered): until the first, it has
	// none. The fleet counts the permits of every grant not yet seen as
	// held. Calls may be coalesced: the last one counts.
	// seen is GateForgotten when the host's gate was forgotten: no grant
	// sent before is applied, and the fleet's entry may go.
	Demand(host string, limit, inFlight, waiting int, seen uint64)
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
// a pause (Host is paused until PausedUntil, as PausedBy saw), a
// slow-down another replica saw (Host, SlowedDown), or this replica's
// permits of a host's cap (Host, Granted: Permits may be in flight).
type FleetEvent struct {
	Key   string
	Slots []time.Time

	Granted bool
	Permits int
	Grant   uint64 // the grant's number, increasing

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
	if e.Granted {
		if g := h.gates[hostGateKey(e.Host)]; g != nil && g.Permitted() && e.Grant > g.grant {
			g.SetPermits(e.Permits)
			g.grant = e.Grant
			h.open(g)
			h.noteDemand(g)
		}
		return false
	}
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

// noteDemand tells the fleet of g's demand, when g is a host gate whose
// cap the fleet shares and its demand changed since it last did: its
// requests in flight, the URLs queued in lanes that pass it, and the
// last grant it applied.
func (h *hosts) noteDemand(g *gate) {
	if g == nil || !g.Permitted() {
		return
	}
	d := demand{g.InFlight(), g.queued, g.grant}
	if g.demandSent && d == g.demand {
		return
	}
	g.demand, g.demandSent = d, true
	h.fleet.Demand(strings.TrimPrefix(g.key, "host "), g.Cap(), d.inFlight, d.queued, d.grant)
}

// noteDropped tells the fleet of the demand of the host gates of bh, a
// batch whose lanes were emptied.
func (h *hosts) noteDropped(bh *batchHosts) {
	for _, l := range bh.lanes {
		h.noteDemand(l.host())
	}
}

// GateForgotten is Demand's seen when the dispatcher forgot the host's
// gate: a grant that comes after is dropped unapplied, so none it sent
// still counts as usable.
const GateForgotten = math.MaxUint64

// noteForgotten tells the fleet that g, a host gate with nothing in
// flight or queued, is forgotten: grants for it not yet seen never will
// be, and its permits go back.
func (h *hosts) noteForgotten(g *gate) {
	if !g.Permitted() {
		return
	}
	h.fleet.Demand(strings.TrimPrefix(g.key, "host "), g.Cap(), 0, 0, GateForgotten)
}

// demand is what a host gate last told the fleet (see noteDemand).
type demand struct {
	inFlight, queued int
	grant            uint64
}
