package engine

import (
	"time"

	"github.com/fetchstream/fetchstream/stages"
)

// window is layer 1 of the engine (see the package doc): one batch's
// ordered window, as sourcegraph/conc's stream keeps its tasks' results,
// a ring of slots drained in index order. It is owned by the dispatcher
// goroutine and never shared.
//
// Indices move through started → completed → queued (in order, into the
// stage's output queue) → sent (taken by the next stage). The window
// bounds started-but-not-sent: index i may start only when i < sent+width,
// so a stuck first URL holds back at most width-1 finished results.
//
// The ring holds the slots of indices [sent, sent+len(ring)); every index
// started and not yet sent is in that range. It starts small and grows,
// up to the width, only as far ahead of sent as the batch actually runs:
// a batch that waits for slots costs a few hundred bytes, not a window.
// Each result is held by pointer, written once by the fetcher.
//
// Cost: O(1) per start, completion and send (amortized over the ring's
// doublings); the semaphore above it (inFlight < Concurrency) is the
// dispatcher's. The batch's other state (its flow, lanes, lifetime) is
// the upper layers' (see batchState).
type window struct {
	job     *stages.Job
	width   int
	ring    []*stages.Fetched // per slot its completed result not yet queued; nil: none
	started []bool            // ring slot's index has started (or completed)

	nextStart int // lowest index not started
	queued    int // indices [0, queued) are in the output queue or sent
	sent      int // indices [0, sent) have left the stage
	inFlight  int
}

func newWindow(job *stages.Job, width int) window {
	n := len(job.Requests)
	size := min(width, n, initialRing)
	return window{
		job:     job,
		width:   width,
		ring:    make([]*stages.Fetched, size),
		started: make([]bool, size),
	}
}

// initialRing is the ring's first size, before it grows.
const initialRing = 8

func (b *window) slot(i int) int { return i % len(b.ring) }

// isStarted reports whether index i (from sent on) has started: beyond the
// ring nothing has.
func (b *window) isStarted(i int) bool { return i-b.sent < len(b.ring) && b.started[b.slot(i)] }

// reach grows the ring, doubling up to the window, until index i has a
// slot of its own, moving the live slots [sent, sent+len(ring)) along.
func (b *window) reach(i int) {
	if i-b.sent < len(b.ring) {
		return
	}
	size := len(b.ring)
	for i-b.sent >= size {
		size *= 2
	}
	size = min(size, b.width, len(b.job.Requests))
	ring, started := make([]*stages.Fetched, size), make([]bool, size)
	for j := b.sent; j < b.sent+len(b.ring); j++ {
		from, to := j%len(b.ring), j%size
		ring[to], started[to] = b.ring[from], b.started[from]
	}
	b.ring, b.started = ring, started
}

// atLimit reports whether the batch has its own cap, or the global one,
// in flight.
func (b *window) atLimit(globalCap int) bool {
	limit := b.job.Concurrency
	if limit <= 0 || limit > globalCap {
		limit = globalCap
	}
	return b.inFlight >= limit
}

// end is where the window ends now: the index past the last that may start.
func (b *window) end() int { return min(len(b.job.Requests), b.sent+b.width) }

// nextIndex returns the first index this batch may start now, or -1, for
// a batch without lanes: the first not started within the window.
func (b *window) nextIndex(globalCap int) int {
	if b.atLimit(globalCap) {
		return -1
	}
	if b.nextStart < b.end() {
		return b.nextStart
	}
	return -1
}

func (b *window) start(i int) {
	b.reach(i)
	b.started[b.slot(i)] = true
	b.inFlight++
	for b.nextStart < len(b.job.Requests) && b.nextStart < b.sent+b.width && b.isStarted(b.nextStart) {
		b.nextStart++
	}
}

// complete stores index i's result, r, in its slot (by pointer: the
// result is not copied on its way through the window) and hands ready the
// results now ready in order (from queued on), moving queued past them.
func (b *window) complete(i int, r *stages.Fetched, ready func(*stages.Fetched)) {
	b.inFlight--
	b.ring[b.slot(i)] = r
	for b.queued < len(b.job.Requests) && b.ring[b.slot(b.queued)] != nil {
		s := b.slot(b.queued)
		ready(b.ring[s])
		b.ring[s] = nil
		b.queued++
	}
}

// markSent frees the window slot of the oldest unsent index.
func (b *window) markSent() {
	b.started[b.slot(b.sent)] = false
	b.sent++
	for b.nextStart < len(b.job.Requests) && b.nextStart < b.sent+b.width && b.isStarted(b.nextStart) {
		b.nextStart++
	}
}

func (b *window) allQueued() bool { return b.queued == len(b.job.Requests) }

func (b *window) hasUnstarted() bool { return b.nextStart < len(b.job.Requests) }

// url is the URL of index i: the one place the stage reads a job's URLs
// by index.
func (b *window) url(i int) string { return b.job.Requests[i].URL }

func sinceMS(t time.Time) float64 { return durationMS(time.Since(t)) }

func durationMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
