package engine

// This file is part of the dispatcher (see the package doc): what the
// windows pass on waits here, in order, for Out, with its batch (whose
// window slot frees once Out takes it) and the bytes it holds against
// the held budget. Cost: O(1) per element, amortized.

// queued is an element waiting to leave the fetch stage. batch is set for
// a *Fetched, whose window slot is freed once the next stage takes it.
type queued struct {
	element any
	batch   *batchState
	held    int64 // bytes a *stages.Fetched counts against the held budget
}

// outQueue is the fetch stage's FIFO of elements ready to pass on. Its
// length is bounded by the windows of the active batches plus one Done
// each, since a result enters it only in order and only within its window.
type outQueue struct {
	items  []queued
	head   int
	budget *heldBudget // told of the bytes each element takes out; nil: none
}

func (q *outQueue) empty() bool { return q.head == len(q.items) }

func (q *outQueue) front() queued { return q.items[q.head] }

func (q *outQueue) push(e queued) {
	if q.head > 0 && q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	q.items = append(q.items, e)
}

func (q *outQueue) pop() {
	if held := q.items[q.head].held; held != 0 && q.budget != nil {
		q.budget.sub(held)
	}
	q.items[q.head] = queued{}
	q.head++
	if q.head > 1024 && q.head*2 > len(q.items) {
		q.items, q.head = append(q.items[:0], q.items[q.head:]...), 0
	}
}
