package engine

import (
	"container/heap"

	"github.com/fetchstream/fetchstream/stages"
)

// This file is part of layer 2, fair share (see the package doc): a
// batch as the scheduler keeps it, and the flows that share slots.

// batchState is one job's progress inside the fetch stage: its ordered
// window (layer 1), and what the upper layers keep of it: its flow and
// whether the held budget held it back (fair share), its lifetime and
// whether it only waits for its hosts, its lanes (politeness). Owned by
// the dispatcher goroutine and never shared.
type batchState struct {
	window
	flow     *flowState // the scheduler's; nil outside one
	heldBack bool       // refused a start by the held-bytes budget, to be stirred when it frees
	batchHosts
	batchLife // its lifetime (see lifetime.go)
	waitMark  // whether it only waits for its hosts (see admission.go)
}

func newBatchState(job *stages.Job, width int) *batchState {
	return &batchState{window: newWindow(job, width)}
}

// complete files index i's result in the window (see window.complete) and
// stirs the batch: a slot in flight is free.
func (b *batchState) complete(i int, r *stages.Fetched, ready func(*stages.Fetched)) {
	b.window.complete(i, r, ready)
	b.stir()
}

// markSent frees the window slot of the oldest unsent index and stirs
// the batch: its window moved.
func (b *batchState) markSent() {
	b.window.markSent()
	b.stir()
}

// life is b's lifetime (lived, for lifetimes).
func (b *batchState) life() *batchLife { return &b.batchLife }

// flowBusy reports whether b's flow has requests in flight (laneOwner).
func (b *batchState) flowBusy() bool { return b.flow != nil && b.flow.inFlight > 0 }

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
