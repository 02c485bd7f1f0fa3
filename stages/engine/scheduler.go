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
// Politeness is a second condition on a URL: its gates (see gate) must
// pass. Per host (or registrable domain) a gate caps requests in flight,
// paces them with a token bucket and holds them while the host asked for a
// pause; per site a robots.txt gate holds them until the robots.txt is in
// and paces them by its Crawl-delay; a batch's own lower rate is a gate of
// its flow. A URL that its gates hold waits here, parked in its lane,
// never in a worker; other URLs of its batch (within the window) and of
// other batches go on.
//
// Cost: the flows that may start something are a min-heap by pass (ties
// to the one served longest ago), so a grant is O(log flows) plus,
// amortized, O(log) per URL for its lane; a flow with nothing to start
// leaves the heap until it is stirred, and no window is scanned per slot.
// A URL's host is parsed when the window reaches it, not at admission:
// admitting a batch parses nothing (it makes one slice of lane pointers). work counts the steps: per grant, about 2.5
// flows looked at, one lane parked and one URL scanned, from 16 to 256
// active batches (TestSchedulerWorkPerGrantIsFlat, BenchmarkSchedulerNext).
type scheduler struct {
	cfg FetchConfig
	// startRobots fetches a site's robots.txt in the background, or is nil
	// when the fetcher cannot.
	startRobots func(g *gate)

	flows    []*flowState // in arrival order
	byKey    map[string]*flowState
	awake    flowHeap // the flows that are not dormant, by (pass, served); with nothing in flight when a reserve is kept
	busy     flowHeap // the awake flows with requests in flight, when a reserve is kept (see reserve.go)
	inFlight int      // requests granted and not yet finished, over all flows
	served   uint64   // grants so far: a flow's served is this at its last grant
	picks    uint64   // picks so far: a flow is looked at once per pick
	vtime    uint64   // pass of the last grant
	gates    map[string]*gate
	timers   gateTimers
	opened   []*gate // gates with room again and lanes to wake
	stopping bool    // the stage is canceled: no gate holds a URL any more
	work     schedulerWork

	lifetimes lifetimes         // the batches' deadlines (see lifetime.go)
	ctx       context.Context   // the stage's, the batches' contexts' parent; nil: none
	ended     *hostsignal.Ended // what ends a request at its batch's deadline
	admission admission         // the batches that only wait for their hosts (see admission.go)
	held      *heldBudget       // bytes of results held behind slow heads (see heldbudget.go)
}

// schedulerWork counts the scheduler's steps. Per grant they stay flat
// however many batches are active (TestSchedulerWorkPerGrantIsFlat,
// BenchmarkSchedulerNext): no step scans every batch or window.
type schedulerWork struct {
	looks uint64 // flows a pick looked at
	parks uint64 // lanes parked on a gate
	scans uint64 // URLs scanned into their lanes
}

// flowState is one fair-share unit: its batches in arrival order.
//
// A flow that a grant found with nothing to start is dormant: out of the
// scheduler's heap, costing nothing per grant, until one of its batches
// may start again (a lane of it woken or put back in its ready heap, a
// completion under its cap again, its window moving, a new batch) and it
// is stirred back in.
type flowState struct {
	key     string
	batches []*batchState
	pass    uint64
	stride  uint64
	served  uint64    // the scheduler's grant count at this flow's last grant (or arrival)
	looked  uint64    // the pick that last looked at it
	awake   *flowHeap // the heap it goes back into when stirred
	index   int       // its place in awake; -1 while dormant
	// inFlight counts its requests granted and not yet finished.
	inFlight int
}

// stir makes the flow of b (if any) be looked at again by the next grant.
func (b *batchState) stir() {
	b.unwait()
	if b.flow != nil && !b.removed {
		b.flow.wake()
	}
}

// wake puts a dormant flow back into the heap; an awake one stays.
func (f *flowState) wake() {
	if f.index < 0 {
		heap.Push(f.awake, f)
	}
}

// flowHeap orders the awake flows by pass, then by how long ago each was
// served, so that equal flows take turns.
type flowHeap []*flowState

func (h flowHeap) Len() int { return len(h) }
func (h flowHeap) Less(i, j int) bool {
	if h[i].pass != h[j].pass {
		return h[i].pass < h[j].pass
	}
	return h[i].served < h[j].served
}
func (h flowHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *flowHeap) Push(x any) {
	f := x.(*flowState)
	f.index = len(*h)
	*h = append(*h, f)
}
func (h *flowHeap) Pop() any {
	old := *h
	f := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	f.index = -1
	return f
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
	return &scheduler{cfg: cfg, startRobots: startRobots, byKey: map[string]*flowState{}, gates: map[string]*gate{},
		held: newHeldBudget(cfg)}
}

func strideOf(priority int) uint64 {
	priority = min(max(priority, wire.MinPriority), wire.MaxPriority)
	return 1 << (wire.MaxPriority - priority)
}

func (s *scheduler) add(b *batchState) {
	s.startLife(b)
	if s.gated(b.job) {
		s.attach(b)
	}
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
	if !s.endLife(b) {
		return // expired, and removed then
	}
	for _, l := range b.lanes {
		for _, g := range l.gates {
			g.refs--
		}
	}
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
	s.admitOpened(now)
	s.held.settle()
	for {
		if g, ok = s.pick(now); ok || len(s.opened) == 0 || s.reserveBinds() || !s.admitOpened(now) {
			if ok && !g.refused {
				s.took(g.batch)
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
			if candidate.laneOf == nil {
				i = candidate.nextIndex(s.cfg.Concurrency)
			} else {
				l, i = candidate.nextInLane(s, s.cfg.Concurrency, now)
			}
			s.noteLook(candidate, i)
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
		g.hostWait = l.pop(now)
		g.batch.ready.fixTop()
		if len(g.batch.retries) > 0 {
			g.resumeRetry()
		}
		if l.robots != nil && !s.stopping && !l.robots.Robots().Allows(g.batch.url(g.index), s.robotsAgent(g.batch.job)) {
			g.refused = true
			return g, true
		}
		for _, gt := range l.gates {
			gt.Take(now)
		}
	}
	return g, true
}

// resumeRetry takes up g's index when it is a retry handed back: its
// Resume, and the time it waited for its host before.
func (g *grant) resumeRetry() {
	p, ok := g.batch.retries[g.index]
	if !ok {
		return
	}
	delete(g.batch.retries, g.index)
	resume := p.resume
	g.resume, g.hostWait = &resume, g.hostWait+p.hostWait
}

// finished releases index's gates once its request is over, and gives a
// slowed host back some of its pace when r succeeded.
func (s *scheduler) finished(b *batchState, index int, r *wire.Result, now time.Time) {
	s.released(b)
	if b.laneOf == nil {
		return
	}
	l := b.laneOf[index]
	for _, g := range l.gates {
		if g.Release() {
			s.open(g)
		}
	}
	if len(l.gates) > 0 && r.OK() {
		l.gates[0].Succeeded(now)
	}
}

// slowDown applies what a host said: a pause of retryAfter (capped at
// MaxHostPause) when it gave one, else, when the host has a pace, half of
// it. The key is the host's gate key; a host no active batch uses is
// forgotten already, and so is its signal.
func (s *scheduler) slowDown(sig hostSignal) {
	g := s.gates[hostGateKey(sig.key)]
	if g == nil {
		return
	}
	if sig.retryAfter < 0 {
		g.SlowDown(sig.at)
		return
	}
	g.Pause(sig.at.Add(min(sig.retryAfter, s.cfg.MaxHostPause)))
}

// stop lets every held URL go, for a canceled stage: their fetches end
// as canceled at once, without a request (the dispatcher marks what it
// grants from then on: see task.stopped), so the stage can finish without
// waiting for a pause or a pace.
func (s *scheduler) stop() {
	s.stopping = true
	for _, f := range s.flows {
		f.wake()
	}
	for _, g := range s.gates {
		g.wake()
	}
}

// sweep forgets the gates that hold nothing (see gate.idle).
func (s *scheduler) sweep(now time.Time) {
	for key, g := range s.gates {
		if g.idle(now) && g.timerAt.IsZero() {
			delete(s.gates, key)
		}
	}
}
