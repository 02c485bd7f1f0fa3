package engine

import (
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/wire"
)

// batchState is one job's progress inside the fetch stage. It is owned by
// the stage's dispatcher goroutine and never shared.
//
// Indices move through started → completed → queued (in order, into the
// stage's output queue) → sent (taken by the next stage). The window
// bounds started-but-not-sent: index i may start only when i < sent+window,
// so a stuck first URL holds back at most window-1 finished results.
//
// The ring holds the slots of indices [sent, sent+len(ring)); every index
// started and not yet sent is in that range. It starts small and grows,
// up to the window, only as far ahead of sent as the batch actually runs:
// a batch that waits for slots costs a few hundred bytes, not a window.
//
// When the scheduler gates URLs by host (a cap, a pace, pauses, robots.txt:
// see lane and gate), laneOf holds each URL's lane and the batch picks
// from its ready lanes; scan is the lowest index not yet put in a lane.
// A URL gets its lane when scan reaches it (see scheduler.laneFor).
type batchState struct {
	job    *stages.Job
	flow   *flowState // the scheduler's; nil outside one
	window int
	laneOf []*lane // per URL its lane, from when it is scanned; nil when no gate applies
	lanes  []*lane // each lane once

	lanesByKey  map[string]*lane // lanes by host key (and site, with robots.txt)
	obeysRobots bool
	flowRate    float64 // the batch's own lower per-host pace; 0: none

	ready   readyLanes
	scan    int
	retries map[int]pendingRetry // retries handed back, waiting for their hosts
	ring    []*stages.Fetched    // per slot its completed result not yet queued; nil: none
	started []bool               // ring slot's index has started (or completed)

	nextStart int // lowest index not started
	queued    int // indices [0, queued) are in the output queue or sent
	sent      int // indices [0, sent) have left the stage
	inFlight  int
	heldBack  bool // refused a start by the held-bytes budget, to be stirred when it frees

	summary wire.Summary

	batchLife // its lifetime, and whether it only waits for its hosts (see lifetime.go, admission.go)
}

func newBatchState(job *stages.Job, window int) *batchState {
	n := len(job.Requests)
	size := min(window, n, initialRing)
	b := &batchState{
		job:     job,
		window:  window,
		ring:    make([]*stages.Fetched, size),
		started: make([]bool, size),
		summary: wire.Summary{BatchID: job.ID, CorrelationID: job.CorrelationID, Count: n},
	}
	return b
}

// initialRing is the ring's first size, before it grows.
const initialRing = 8

func (b *batchState) slot(i int) int { return i % len(b.ring) }

// isStarted reports whether index i (from sent on) has started: beyond the
// ring nothing has.
func (b *batchState) isStarted(i int) bool { return i-b.sent < len(b.ring) && b.started[b.slot(i)] }

// reach grows the ring, doubling up to the window, until index i has a
// slot of its own, moving the live slots [sent, sent+len(ring)) along.
func (b *batchState) reach(i int) {
	if i-b.sent < len(b.ring) {
		return
	}
	size := len(b.ring)
	for i-b.sent >= size {
		size *= 2
	}
	size = min(size, b.window, len(b.job.Requests))
	ring, started := make([]*stages.Fetched, size), make([]bool, size)
	for j := b.sent; j < b.sent+len(b.ring); j++ {
		from, to := j%len(b.ring), j%size
		ring[to], started[to] = b.ring[from], b.started[from]
	}
	b.ring, b.started = ring, started
}

// atLimit reports whether the batch has its own cap, or the global one,
// in flight.
func (b *batchState) atLimit(globalCap int) bool {
	limit := b.job.Concurrency
	if limit <= 0 || limit > globalCap {
		limit = globalCap
	}
	return b.inFlight >= limit
}

// nextIndex returns the first index this batch may start now, or -1, for
// a batch without lanes: the first not started within the window.
func (b *batchState) nextIndex(globalCap int) int {
	if b.atLimit(globalCap) {
		return -1
	}
	if end := min(len(b.job.Requests), b.sent+b.window); b.nextStart < end {
		return b.nextStart
	}
	return -1
}

// nextInLane returns, for a batch with lanes, the lane whose head may
// start now and that head's index, or nil and -1. It takes the lowest
// index whose gates pass: lanes whose gate holds them are parked on it
// (s.park) as it meets them, and indices newly in the window are put in
// their lanes; each index is put in a lane once and each park is undone
// only by its gate's wake, so a held host costs nothing per grant.
func (b *batchState) nextInLane(s *scheduler, globalCap int, now time.Time) (*lane, int) {
	if b.atLimit(globalCap) {
		return nil, -1
	}
	end := min(len(b.job.Requests), b.sent+b.window)
	for {
		if len(b.ready) > 0 {
			l := b.ready[0]
			if l.robots != nil && !s.stopping {
				s.refreshRobots(l.robots, now)
			}
			g, until := l.blocking(now)
			if g == nil || s.stopping {
				return l, l.front().index
			}
			b.ready.popTop()
			s.park(l, g, until)
			continue
		}
		if b.scan >= end {
			return nil, -1
		}
		i := b.scan
		b.scan++
		s.work.scans++
		l := s.laneFor(b, i)
		l.push(i, now)
		if l.parkedOn == nil {
			b.ready.push(l) // a no-op when it is in the heap already, with a lower head
		}
	}
}

func (b *batchState) start(i int) {
	b.reach(i)
	b.started[b.slot(i)] = true
	b.inFlight++
	for b.nextStart < len(b.job.Requests) && b.nextStart < b.sent+b.window && b.isStarted(b.nextStart) {
		b.nextStart++
	}
}

// complete stores index i's result, r, in its slot (by pointer: the
// result is not copied on its way through the window) and hands ready the
// results now ready in order (from queued on), moving queued past them.
func (b *batchState) complete(i int, r *stages.Fetched, ready func(*stages.Fetched)) {
	b.inFlight--
	b.stir()
	b.ring[b.slot(i)] = r
	b.count(r.Result.Error)
	for b.queued < len(b.job.Requests) && b.ring[b.slot(b.queued)] != nil {
		s := b.slot(b.queued)
		ready(b.ring[s])
		b.ring[s] = nil
		b.queued++
	}
}

// markSent frees the window slot of the oldest unsent index.
func (b *batchState) markSent() {
	b.stir()
	b.started[b.slot(b.sent)] = false
	b.sent++
	for b.nextStart < len(b.job.Requests) && b.nextStart < b.sent+b.window && b.isStarted(b.nextStart) {
		b.nextStart++
	}
}

func (b *batchState) allQueued() bool { return b.queued == len(b.job.Requests) }

func (b *batchState) hasUnstarted() bool { return b.nextStart < len(b.job.Requests) }

// url is the URL of index i: the one place the stage reads a job's URLs
// by index.
func (b *batchState) url(i int) string { return b.job.Requests[i].URL }

func (b *batchState) count(kind wire.ErrorKind) {
	if kind == "" {
		b.summary.OK++
		return
	}
	b.summary.Failed++
	if b.summary.Errors == nil {
		b.summary.Errors = make(map[wire.ErrorKind]int)
	}
	b.summary.Errors[kind]++
}
