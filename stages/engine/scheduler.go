package engine

import (
	"container/heap"
	"context"
	"slices"
	"time"

	"github.com/fetchstream/fetchstream/stages/hostsignal"
	"github.com/fetchstream/fetchstream/wire"
)

// scheduler hands the fetch stage's global slots to the batches in
// progress by stride scheduling over flows. A flow is a batch, or the
// batches that share a correlation id (one long list split by the client),
// served in arrival order. Each grant goes to the flow with the lowest
// pass among those that can start a URL now; the flow's pass then moves on
// by its stride, 2^(MaxPriority-priority). So equal flows take turns
// (round-robin: a 3-URL batch starts at the next free slots however big
// the batches before it), each priority level up doubles a flow's share,
// and no flow with startable URLs starves. A new flow starts at the
// current virtual time, so it is served at once without a backlog of
// credit. Owned by the fetch stage's dispatcher goroutine.
//
// This is layer 2 of the engine (see the package doc): fair share, with
// the reserve (reserve.go), waiting batches (admission.go), lifetimes
// (lifetime.go) and the held-bytes budget (heldbudget.go). Politeness,
// layer 3, is a further condition on a URL, asked only through the
// politeness interface (see politeness; hosts implements it):
// per host (or registrable domain) a gate caps requests in flight, paces
// them and holds them while the host asked for a pause; per site a
// robots.txt gate; a batch's own lower rate is a gate of its flow. A URL
// that its gates hold waits there, parked in its lane, never in a worker;
// other URLs of its batch (within the window) and of other batches go on.
//
// Cost: the flows that may start something are a min-heap by pass (ties
// to the one served longest ago), so a grant is O(log flows) plus,
// amortized, O(log) per URL for its lane; a flow with nothing to start
// leaves the heap until it is stirred, and no window is scanned per slot.
// A URL's host is parsed when the window reaches it, not at admission:
// admitting a batch parses nothing (it makes one slice of lane pointers).
// work counts the steps: per grant, about 2.5
// flows looked at, one lane parked and one URL scanned, from 16 to 256
// active batches (TestSchedulerWorkPerGrantIsFlat, BenchmarkSchedulerNext).
type scheduler struct {
	cfg    FetchConfig
	polite politeness // layer 3, asked only through its interface (see politeness)

	slots               // the awake flows, requests in flight and the reserve (see reserve.go)
	flows  []*flowState // in arrival order
	byKey  map[string]*flowState
	served uint64 // grants so far: a flow's served is this at its last grant
	picks  uint64 // picks so far: a flow is looked at once per pick
	vtime  uint64 // pass of the last grant
	work   schedulerWork

	lifetimes lifetimes[*batchState] // the batches' deadlines (see lifetime.go)
	ctx       context.Context        // the stage's, the batches' contexts' parent; nil: none
	ended     *hostsignal.Ended      // what ends a request at its batch's deadline
	admission admission              // the batches that only wait for their hosts (see admission.go)
	held      *heldBudget            // bytes of results held behind slow heads (see heldbudget.go)
}

// grant is a URL the scheduler lets go: to a worker, or, when refused,
// straight to its result (robots_disallowed, no request).
type grant struct {
	batch    *batchState
	index    int
	hostWait time.Duration
	refused  bool
	resume   *hostsignal.Resume // a retry handed back, resumed
}

func newScheduler(cfg FetchConfig, startRobots func(*gate)) *scheduler {
	s := &scheduler{cfg: cfg, byKey: map[string]*flowState{}, held: newHeldBudget(cfg),
		slots: slots{concurrency: cfg.Concurrency, reserve: cfg.Reserve}}
	s.polite = newHosts(cfg, startRobots, &s.work)
	return s
}

func strideOf(priority int) uint64 {
	priority = min(max(priority, wire.MinPriority), wire.MaxPriority)
	return 1 << (wire.MaxPriority - priority)
}

func (s *scheduler) add(b *batchState) {
	b.admission = &s.admission
	if s.ended == nil && s.cfg.MaxBatchTime > 0 { // the same for every batch
		s.ended = &hostsignal.Ended{Kind: wire.ErrTimeout, Message: lifetimeMessage(s.cfg.MaxBatchTime, "before this URL finished")}
	}
	s.lifetimes.start(b, s.ctx, b.job.Start, s.cfg.MaxBatchTime, s.ended)
	s.polite.join(&b.batchHosts, b.job, 0)
	stride := strideOf(b.job.Priority)
	f := s.byKey[b.job.Flow]
	if f == nil {
		f = &flowState{key: b.job.Flow, pass: s.vtime, stride: stride, served: s.served, awake: &s.awake, index: -1}
		s.byKey[f.key] = f
		s.flows = append(s.flows, f)
	}
	f.stride = min(f.stride, stride) // the flow's most urgent batch sets its share
	f.batches = append(f.batches, b)
	b.flow = f
	f.wake()
}

func (s *scheduler) remove(b *batchState) {
	if !s.lifetimes.end(b) {
		return // expired, and removed then
	}
	b.unwait()
	s.polite.detach(&b.batchHosts)
	f := s.byKey[b.job.Flow]
	if f == nil {
		return
	}
	if i := slices.Index(f.batches, b); i >= 0 {
		f.batches = slices.Delete(f.batches, i, i+1)
	}
	if len(f.batches) > 0 {
		return
	}
	delete(s.byKey, f.key)
	if f.index >= 0 {
		heap.Remove(f.awake, f.index)
	}
	i := slices.Index(s.flows, f)
	s.flows = slices.Delete(s.flows, i, i+1)
}

// next picks the URL to start now and marks it started, or returns
// ok=false when nothing may start (every window, batch cap and gate is
// full or holds).
func (s *scheduler) next(now time.Time) (g grant, ok bool) {
	s.polite.admitOpened(now, s.reserveBinds())
	s.held.settle()
	for {
		if g, ok = s.pick(now); ok || s.reserveBinds() || !s.polite.admitOpened(now, s.reserveBinds()) {
			if ok && !g.refused {
				s.took(g.batch.flow)
			}
			return g, ok
		}
		// The lanes woken could not start: wake more, while gates have room.
	}
}

// pick grants a URL of the awake flow with the lowest pass that has one
// to start; the flows it finds with nothing to start go dormant.
func (s *scheduler) pick(now time.Time) (g grant, ok bool) {
	var (
		best     *flowState
		bestLane *lane
		later    []*flowState // stirred again during this pick: awake for the next
	)
	s.picks++
	for best == nil {
		h := s.source()
		if h == nil {
			break
		}
		f := heap.Pop(h).(*flowState)
		if f.looked == s.picks {
			later = append(later, f)
			continue
		}
		f.looked = s.picks
		s.work.looks++
		for _, candidate := range f.batches {
			var l *lane
			i := -1
			held := s.polite.holds(&candidate.batchHosts)
			if !held {
				i = candidate.nextIndex(s.cfg.Concurrency)
			} else if !candidate.atLimit(s.cfg.Concurrency) {
				l, i = s.polite.nextInLane(&candidate.batchHosts, candidate, candidate.job, candidate.end(), now)
			}
			if i >= 0 {
				candidate.unwait()
			} else if candidate.inFlight == 0 && held && candidate.queued == candidate.sent && !s.polite.stopped() {
				candidate.markWaiting() // it only waits for its hosts (see admission)
			}
			if i >= 0 && s.held.allows(candidate, i) {
				g.batch, g.index, best, bestLane = candidate, i, f, l
				break
			}
		}
		if best == nil && f.index >= 0 { // looking stirred it back in
			heap.Remove(f.awake, f.index)
			later = append(later, f)
		}
	}
	for _, f := range later {
		f.wake()
	}
	if best == nil {
		return grant{}, false
	}
	s.vtime = max(s.vtime, best.pass)
	best.pass = s.vtime + best.stride
	s.served++
	best.served = s.served
	if best.index >= 0 {
		heap.Fix(best.awake, best.index)
	} else {
		heap.Push(best.awake, best)
	}
	g.batch.start(g.index)
	if l := bestLane; l != nil {
		g.hostWait, g.resume, g.refused = s.polite.take(&g.batch.batchHosts, l, g.batch.job, g.index, now)
	}
	return g, true
}

// finished counts a request of b's as over, in its flow and at its
// hosts' gates (see politeness.finished).
func (s *scheduler) finished(b *batchState, index int, r *wire.Result, now time.Time) {
	s.released(b.flow)
	s.polite.finished(&b.batchHosts, index, r.OK(), now)
}

// requeue takes back index i of b, whose retry must wait for its host:
// no longer in flight, it waits at its place in its lane (see
// politeness.requeue), and resumes when its gates let it go.
func (s *scheduler) requeue(b *batchState, i int, p pendingRetry, now time.Time) {
	b.inFlight--
	b.stir()
	s.polite.requeue(&b.batchHosts, b, b.job, i, p, b.nextStart, now)
}

// slowDown applies a host's slow-down or pause (see politeness.slowDown). The
// pause that turns pausing on attaches the active batches that went
// ungated, from the URLs each has not started on, so that the paused
// host holds their URLs too.
func (s *scheduler) slowDown(sig hostSignal) {
	if !s.polite.slowDown(sig) {
		return
	}
	s.joinAll()
}

// fleetEvent files a lease or a pause from the fleet (see
// hosts.fleetEvent); a pause attaches the batches as slowDown does.
func (s *scheduler) fleetEvent(e FleetEvent, now time.Time) {
	if s.polite.fleetEvent(e, now) {
		s.joinAll()
	}
}

// joinAll makes every batch go through gates, once pausing began.
func (s *scheduler) joinAll() {
	for _, f := range s.flows {
		for _, b := range f.batches {
			if s.polite.join(&b.batchHosts, b.job, b.nextStart) {
				b.stir()
			}
		}
	}
}

// nextWake is the time of the earliest gate timer or batch deadline
// (zero: none).
func (s *scheduler) nextWake() time.Time {
	at := s.lifetimes.next()
	if t := s.polite.nextWake(); !t.IsZero() && (at.IsZero() || t.Before(at)) {
		at = t
	}
	return at
}

// stop lets every held URL go, for a canceled stage: their fetches end
// as canceled at once, without a request (the dispatcher marks what it
// grants from then on: see task.stopped), so the stage can finish without
// waiting for a pause or a pace.
func (s *scheduler) stop() {
	for _, f := range s.flows {
		f.wake()
	}
	s.polite.stop()
}
