package engine

import (
	"container/heap"
	"context"
	"fmt"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/stages/hostsignal"
	"github.com/fetchstream/fetchstream/wire"
)

// batchLife is what a batch's lifetime adds to its state. Every batch
// ends by its deadline (job.Start plus FetchConfig.MaxBatchTime): then
// its URLs not started end as timeout without a request, its retries
// waiting for a host end as timeout, and its requests in flight, whose
// contexts carry the deadline, are canceled and end as timeout with the
// lifetime's message (see hostsignal.Ended). Results keep their order;
// the summary follows as usual.
type batchLife struct {
	deadline   time.Time               // zero: no lifetime
	ctx        context.Context         // its requests' parent: done at the deadline, or once it is removed
	cancel     context.CancelCauseFunc // ends ctx with a cause
	stopTimer  context.CancelFunc      // releases ctx's deadline timer
	deadlineAt int                     // place in the scheduler's deadline heap; -1: not in it
	ended      *hostsignal.Ended       // the cause its requests end with at the deadline
	expired    bool                    // the lifetime ran out: nothing of it starts any more
	ending     bool                    // in Fetch.ending: expired, with URLs that may end now
	removed    bool                    // out of the scheduler (done, or expired)
	waiting    bool                    // counted in admission.waiting (see admission.go)
	admission  *admission              // the scheduler's; nil outside one
}

// lifetimes is the scheduler's book of batch deadlines: a min-heap, so
// that the dispatcher's one timer wakes at the earliest (see nextWake),
// O(log batches) per batch admitted or removed, nothing per grant.
type lifetimes []*batchState

func (h lifetimes) Len() int           { return len(h) }
func (h lifetimes) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h lifetimes) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].deadlineAt, h[j].deadlineAt = i, j
}
func (h *lifetimes) Push(x any) {
	b := x.(*batchState)
	b.deadlineAt = len(*h)
	*h = append(*h, b)
}
func (h *lifetimes) Pop() any {
	old := *h
	b := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	b.deadlineAt = -1
	return b
}

// next is the earliest deadline (zero: none).
func (h lifetimes) next() time.Time {
	if len(h) == 0 {
		return time.Time{}
	}
	return h[0].deadline
}

// startLife gives b, joining the scheduler, its deadline.
func (s *scheduler) startLife(b *batchState) {
	b.admission, b.deadlineAt = &s.admission, -1
	if s.cfg.MaxBatchTime <= 0 {
		return
	}
	start := b.job.Start
	if start.IsZero() {
		start = time.Now()
	}
	b.deadline = start.Add(s.cfg.MaxBatchTime)
	if s.ended == nil { // the same for every batch
		s.ended = &hostsignal.Ended{Kind: wire.ErrTimeout, Message: lifetimeMessage(s.cfg.MaxBatchTime, "before this URL finished")}
	}
	b.ended = s.ended
	parent := s.ctx
	if parent == nil {
		parent = context.Background()
	}
	b.ctx, b.cancel = context.WithCancelCause(parent)
	b.ctx, b.stopTimer = context.WithDeadlineCause(b.ctx, b.deadline, b.ended)
	heap.Push(&s.lifetimes, b)
}

// endLife takes b off the books as it leaves the scheduler, and reports
// false when it left already (an expired batch is removed at its deadline,
// then again once its last result is in).
func (s *scheduler) endLife(b *batchState) bool {
	if b.removed {
		return false
	}
	b.removed = true
	if b.deadlineAt >= 0 {
		heap.Remove(&s.lifetimes, b.deadlineAt)
	}
	if b.cancel != nil {
		b.cancel(b.ended) // its requests still in flight end with it (at its deadline: see expire)
		b.stopTimer()
	}
	b.unwait()
	return true
}

func lifetimeMessage(lifetime time.Duration, when string) string {
	return fmt.Sprintf("the batch's lifetime of %s (%s) ran out %s", lifetime, stages.LifetimeFlag, when)
}

// requestContext is the context for a request of b on a worker whose
// own context is ctx: b's, which ends at b's deadline (or as the stage is
// canceled), with the worker's signals; ctx itself when b has no
// lifetime. The requests of one batch share its context (and its lock,
// as each attempt's timeout registers with it), not one of the whole
// stage (see workerPool.start).
func (b *batchState) requestContext(ctx context.Context, signals *workerSignals) context.Context {
	if b.ctx == nil {
		return ctx
	}
	return hostsignal.With(b.ctx, signals)
}

// expireDue ends the batches whose lifetime ran out by now, then what the
// expired batches' windows let end since (see markSent).
func (f *Fetch) expireDue(sched *scheduler, queue *outQueue, active *int, now time.Time) {
	for len(sched.lifetimes) > 0 && !sched.lifetimes[0].deadline.After(now) {
		b := heap.Pop(&sched.lifetimes).(*batchState)
		f.expire(b, sched, queue, active, now)
	}
	for len(f.ending) > 0 {
		b := f.ending[len(f.ending)-1]
		f.ending[len(f.ending)-1] = nil
		f.ending = f.ending[:len(f.ending)-1]
		b.ending = false
		f.endUnstarted(b, sched, queue, active, now)
	}
}

// expire ends b at its deadline: it leaves the scheduler (its gates no
// longer count it, its lanes are emptied, so a lane parked on a gate is
// dropped when the gate next wakes it), its retries waiting for a host
// end, and its URLs not started end as far as its window lets them; the
// rest end as the window moves on (markSent). Its requests in flight end
// by their contexts' deadline, the same.
func (f *Fetch) expire(b *batchState, sched *scheduler, queue *outQueue, active *int, now time.Time) {
	b.expired = true
	sched.remove(b)
	// b.flow kept: its requests in flight are still counted in it (released)
	for _, l := range b.lanes {
		l.queue, l.head, l.batch = nil, 0, nil
	}
	b.ready = nil
	for i, p := range b.retries {
		r := p.resume.Last // as the fetcher kept it: without what its Do adds last
		r.URL, r.FetchedAt, r.ElapsedMS = b.url(i), p.resume.Start.UTC(), sinceMS(p.resume.Start)
		if p.hostWait > 0 {
			r.HostWaitMS = durationMS(p.hostWait)
		}
		b.inFlight++ // complete counts it out again
		if f.complete(&completion{batch: b, index: i, fetched: fetchedOf(f.endedRetry(r, p.resume.Attempts))}, sched, queue) {
			*active--
		}
	}
	b.retries = nil
	f.endUnstarted(b, sched, queue, active, now)
}

// endUnstarted ends, without a request, the URLs of the expired batch b
// that are not started, as far as its window reaches.
func (f *Fetch) endUnstarted(b *batchState, sched *scheduler, queue *outQueue, active *int, now time.Time) {
	for b.hasUnstarted() && b.nextStart < b.sent+b.window {
		i := b.nextStart
		b.start(i)
		r := wire.Result{URL: b.url(i), FetchedAt: now.UTC(), Error: wire.ErrTimeout,
			Message: lifetimeMessage(f.cfg.MaxBatchTime, "before this URL started")}
		if obs, ok := f.cfg.Observer.(HostObserver); ok {
			obs.Refused(&r)
		}
		if f.complete(&completion{batch: b, index: i, fetched: fetchedOf(r)}, sched, queue) {
			*active--
		}
	}
}

// endedRetry is the result of a URL of an expired batch whose retry
// was waiting for its host: its last attempt's, ended as timeout.
func (f *Fetch) endedRetry(last wire.Result, attempts int) wire.Result {
	kind := string(last.Error)
	if last.Error == wire.ErrHTTP {
		kind = fmt.Sprintf("status %d", last.Status)
	}
	last.Error = wire.ErrTimeout
	last.Message = lifetimeMessage(f.cfg.MaxBatchTime,
		fmt.Sprintf("while this URL waited to retry (attempt %d ended as %s)", attempts, kind))
	if obs, ok := f.cfg.Observer.(HostObserver); ok {
		obs.Refused(&last)
	}
	return last
}

// markSent passes on b's oldest unsent result; for an expired batch the
// window it frees lets one more URL end (see expireDue).
func (f *Fetch) markSent(b *batchState) {
	b.markSent()
	if b.expired && !b.ending && b.hasUnstarted() {
		b.ending = true
		f.ending = append(f.ending, b)
	}
}
