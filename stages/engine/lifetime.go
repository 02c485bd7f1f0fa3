package engine

import (
	"container/heap"
	"context"
	"fmt"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/stages/hostsignal"
)

// This file is part of layer 2, fair share (see the package doc): every
// batch's lifetime. Cost: O(log batches) per batch admitted or removed,
// nothing per grant.

// batchLife is what a batch's lifetime adds to its state. Every batch
// ends by its deadline (job.Start plus FetchConfig.MaxBatchTime): then
// its URLs not started end as timeout without a request, its retries
// waiting for a host end as timeout, and its requests in flight, whose
// contexts carry the deadline, are canceled and end as timeout with the
// lifetime's message (see hostsignal.Ended). Results keep their order;
// the summary follows as usual (see filer.expire).
type batchLife struct {
	deadline   time.Time               // zero: no lifetime
	ctx        context.Context         // its requests' parent: done at the deadline, or once it is removed
	cancel     context.CancelCauseFunc // ends ctx with a cause
	stopTimer  context.CancelFunc      // releases ctx's deadline timer
	deadlineAt int                     // place in the scheduler's deadline heap; -1: not in it
	ended      *hostsignal.Ended       // the cause its requests end with at the deadline
	expired    bool                    // the lifetime ran out: nothing of it starts any more
	ending     bool                    // in filer.ending: expired, with URLs that may end now
	removed    bool                    // out of the scheduler (done, or expired)
}

// lived is what lifetimes keeps: a batch, by its lifetime.
type lived interface{ life() *batchLife }

// lifetimes is the scheduler's book of batch deadlines: a min-heap, so
// that the dispatcher's one timer wakes at the earliest (see
// scheduler.nextWake), O(log batches) per batch admitted or removed,
// nothing per grant.
type lifetimes[B lived] []B

func (h lifetimes[B]) Len() int           { return len(h) }
func (h lifetimes[B]) Less(i, j int) bool { return h[i].life().deadline.Before(h[j].life().deadline) }
func (h lifetimes[B]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].life().deadlineAt, h[j].life().deadlineAt = i, j
}
func (h *lifetimes[B]) Push(x any) {
	b := x.(B)
	b.life().deadlineAt = len(*h)
	*h = append(*h, b)
}
func (h *lifetimes[B]) Pop() any {
	old := *h
	b := old[len(old)-1]
	var none B
	old[len(old)-1] = none
	*h = old[:len(old)-1]
	b.life().deadlineAt = -1
	return b
}

// next is the earliest deadline (zero: none).
func (h lifetimes[B]) next() time.Time {
	if len(h) == 0 {
		return time.Time{}
	}
	return h[0].life().deadline
}

// due pops the batch whose deadline is earliest, if it came by now.
func (h *lifetimes[B]) due(now time.Time) (b B, ok bool) {
	if len(*h) == 0 || (*h)[0].life().deadline.After(now) {
		return b, false
	}
	return heap.Pop(h).(B), true
}

// start gives b, joining the scheduler, its deadline: lifetime from
// start, its requests' context a child of parent ending then with ended.
// A lifetime of 0 is none.
func (h *lifetimes[B]) start(b B, parent context.Context, start time.Time, lifetime time.Duration, ended *hostsignal.Ended) {
	l := b.life()
	l.deadlineAt = -1
	if lifetime <= 0 {
		return
	}
	if start.IsZero() {
		start = time.Now()
	}
	l.deadline = start.Add(lifetime)
	l.ended = ended
	if parent == nil {
		parent = context.Background()
	}
	l.ctx, l.cancel = context.WithCancelCause(parent)
	l.ctx, l.stopTimer = context.WithDeadlineCause(l.ctx, l.deadline, l.ended)
	heap.Push(h, b)
}

// end takes b off the books as it leaves the scheduler, and reports false
// when it left already (an expired batch is removed at its deadline, then
// again once its last result is in).
func (h *lifetimes[B]) end(b B) bool {
	l := b.life()
	if l.removed {
		return false
	}
	l.removed = true
	if l.deadlineAt >= 0 {
		heap.Remove(h, l.deadlineAt)
	}
	if l.cancel != nil {
		l.cancel(l.ended) // its requests still in flight end with it (at its deadline: see filer.expire)
		l.stopTimer()
	}
	return true
}

func lifetimeMessage(lifetime time.Duration, when string) string {
	return fmt.Sprintf("the batch's lifetime of %s (%s) ran out %s", lifetime, stages.LifetimeFlag, when)
}

// requestContext is the context for a request of the batch on a worker
// whose own context is ctx: the batch's, which ends at its deadline (or
// as the stage is canceled), with the worker's signals; ctx itself when
// the batch has no lifetime. The requests of one batch share its context
// (and its lock, as each attempt's timeout registers with it), not one of
// the whole stage (see workerPool.start).
func (l *batchLife) requestContext(ctx context.Context, signals *workerSignals) context.Context {
	if l.ctx == nil {
		return ctx
	}
	return hostsignal.With(l.ctx, signals)
}
