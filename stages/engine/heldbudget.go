package engine

import (
	"sync/atomic"

	"github.com/fetchstream/fetchstream/wire"
)

// This file is part of layer 2, fair share (see the package doc): a
// bound on the bytes held across all batches. Cost: O(1) per result and
// per start refused, amortized.

// heldBudget bounds the bytes of results the fetch stage holds behind
// slow heads, whatever the number of batches: results completed in a
// batch's ring and not yet queued, plus those in the stage's output queue
// (see resultBytes), and what FetchConfig.HeldElsewhere reports further
// down. It is reached by backpressure, not failure: once the total is
// over MaxHeldBytes, a batch may start only its head (the lowest index
// not yet queued, and only once everything before it has left the
// stage), which drains what the batch holds, so every batch still
// progresses and nothing deadlocks. Batches refused a start meanwhile
// are stirred when the total falls to three quarters of the budget (not
// on every byte freed).
//
// Beyond the budget the stage holds at most what the requests in flight
// when it was crossed bring in (Concurrency of them, each at most
// max-body and its URL) and, per batch, one head result on its way out:
// MaxHeldBytes + (Concurrency + MaxActive) × the largest result.
//
// Owned by the dispatcher; now and peak are also read by Fetch.Held.
type heldBudget struct {
	limit     int64
	elsewhere func() int64
	bytes     int64 // held in the stage
	over      bool
	stalled   []*batchState // refused a start while over, to stir once it ends
	pruneAt   int           // the stalled list's length at which done batches are let go

	now, peak atomic.Int64
}

func newHeldBudget(cfg FetchConfig) *heldBudget {
	return &heldBudget{limit: cfg.MaxHeldBytes, elsewhere: cfg.HeldElsewhere, pruneAt: minPrune}
}

// resultOverhead is what a result costs beside its body and URL, about:
// the struct, its small fields and its slot.
const resultOverhead = 512

// resultBytes is what a held result counts against the budget.
func resultBytes(r *wire.Result) int64 {
	return int64(len(r.Body)+len(r.URL)) + resultOverhead
}

func (h *heldBudget) total() int64 {
	t := h.bytes
	if h.elsewhere != nil {
		t += h.elsewhere()
	}
	return t
}

// add counts n bytes more held, turning backpressure on past the limit.
func (h *heldBudget) add(n int64) {
	h.bytes += n
	h.show()
	if h.limit > 0 && !h.over && h.total() > h.limit {
		h.over = true
	}
}

// sub counts n bytes held no more.
func (h *heldBudget) sub(n int64) {
	h.bytes -= n
	h.show()
}

func (h *heldBudget) show() {
	h.now.Store(h.bytes)
	if h.bytes > h.peak.Load() {
		h.peak.Store(h.bytes)
	}
}

// settle turns backpressure on when what is held elsewhere took the
// total over the limit, and off once the total is down to the low mark,
// stirring the batches it held back.
func (h *heldBudget) settle() {
	if h.limit == 0 {
		return
	}
	total := h.total()
	if !h.over {
		h.over = total > h.limit
		return
	}
	if total > h.limit-h.limit/4 {
		return
	}
	h.over = false
	for i, b := range h.stalled {
		h.stalled[i] = nil
		b.heldBack = false
		if !b.allQueued() { // a batch done is out of the scheduler
			b.stir()
		}
	}
	h.stalled = h.stalled[:0]
}

// allows reports whether b may start index i now: always under the
// budget, and over it only when i is b's head and nothing of b waits in
// the output queue. A batch refused is stirred when backpressure ends.
func (h *heldBudget) allows(b *batchState, i int) bool {
	if !h.over || i == b.queued && b.sent == b.queued {
		return true
	}
	if !b.heldBack {
		b.heldBack = true
		h.prune()
		h.stalled = append(h.stalled, b)
	}
	return false
}

// prune lets go of the stalled batches that are done, once the list has
// doubled since the last time: under a long backpressure it stays within
// twice the batches in progress, at O(1) per batch, amortized.
func (h *heldBudget) prune() {
	if len(h.stalled) < h.pruneAt {
		return
	}
	kept := h.stalled[:0]
	for _, b := range h.stalled {
		if !b.allQueued() {
			kept = append(kept, b)
		}
	}
	clear(h.stalled[len(kept):])
	h.stalled = kept
	h.pruneAt = max(minPrune, 2*len(kept))
}

// minPrune is the shortest stalled list pruned.
const minPrune = 64

// HeldBytes is what the fetch stage holds of finished results that wait
// behind a slow head or for the next stage (see FetchConfig.MaxHeldBytes).
type HeldBytes struct {
	Now  int64 // held at the last change
	Peak int64 // the most held at once since the stage started
}

// counts reports the bytes held now, and at most so far; safe to call
// from any goroutine.
func (h *heldBudget) counts() HeldBytes {
	return HeldBytes{Now: h.now.Load(), Peak: h.peak.Load()}
}
