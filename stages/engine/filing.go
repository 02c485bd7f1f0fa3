package engine

import (
	"fmt"
	"time"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
)

// filer is the dispatcher's book of what batches end with: it admits
// each job as a batch, files each result in its batch's window and, in
// index order, into the output queue, then the batch's Done; and it
// makes the results that need no request: a URL robots.txt disallows,
// and what a batch's lifetime ends (see batchLife). It counts the active
// batches. Owned by the dispatcher goroutine. Cost: O(1) per result, plus
// the scheduler's O(log flows) when a batch comes or goes.
type filer struct {
	cfg    FetchConfig
	sched  *scheduler
	queue  outQueue
	active int // batches admitted and not yet done
	// ending: expired batches whose window moved, with URLs to end (see
	// markSent).
	ending []*batchState
}

// admit takes an element from the input: a job becomes an active batch,
// or, rejected, a lone Done; anything else passes on untouched.
func (fl *filer) admit(element any) {
	job, ok := element.(*stages.Job)
	if !ok {
		fl.queue.push(queued{element: element}) // not ours: pass it on untouched
		return
	}
	if job.Err != nil || len(job.Requests) == 0 {
		fl.queue.push(queued{element: stages.Rejected(job)})
		return
	}
	if job.Flow == "" {
		job.Flow = job.ID
	}
	fl.sched.add(newBatchState(job, fl.cfg.Window))
	fl.active++
}

// complete files index i's result, fetched, in b; once every result of b
// is queued, b's Done follows and b is no longer active.
func (fl *filer) complete(b *batchState, i int, fetched *stages.Fetched) {
	fl.sched.held.add(resultBytes(&fetched.Result))
	b.complete(i, fetched, func(fetched *stages.Fetched) {
		r := &fetched.Result
		r.BatchID, r.CorrelationID, r.Index, r.Count = b.job.ID, b.job.CorrelationID, b.queued, len(b.job.Requests)
		fetched.Job = b.job
		fl.queue.push(queued{element: fetched, batch: b, held: resultBytes(r)})
	})
	if !b.allQueued() {
		return
	}
	fl.sched.remove(b)
	fl.queue.push(queued{element: batchDone(b.job)})
	fl.active--
}

// refuse files the result of a URL that robots.txt disallows: no request,
// no worker.
func (fl *filer) refuse(g grant) {
	r := wire.Result{URL: g.batch.url(g.index), FetchedAt: time.Now().UTC(), Error: wire.ErrRobotsDisallowed,
		Message: "the site's robots.txt disallows this URL for " + robotsAgent(g.batch.job, fl.cfg.RobotsUserAgent)}
	if g.hostWait > 0 {
		r.HostWaitMS = durationMS(g.hostWait)
	}
	if obs, ok := fl.cfg.Observer.(HostObserver); ok {
		obs.Refused(&r)
	}
	fl.complete(g.batch, g.index, fetchedOf(r))
}

// batchDone is the Done that follows job's results: its summary holds
// what the engine knows (the batch's ids, its count, its elapsed time).
// The counts by kind (OK, Failed, Errors) are not the engine's: the
// publisher counts them from the results it publishes (one owner; see
// connectors.Publisher), so they are zero here.
func batchDone(job *stages.Job) *stages.Done {
	return &stages.Done{Job: job, Summary: wire.Summary{BatchID: job.ID, CorrelationID: job.CorrelationID,
		Count: len(job.Requests), ElapsedMS: sinceMS(job.Start)}}
}

// fetchedOf is r in a *stages.Fetched, for a result made without a
// request (refused, or ended by its batch's lifetime).
func fetchedOf(r wire.Result) *stages.Fetched {
	fetched := stages.NewFetched()
	fetched.Result = r
	return fetched
}

// markSent passes on b's oldest unsent result; for an expired batch the
// window it frees lets one more URL end (see expireDue).
func (fl *filer) markSent(b *batchState) {
	b.markSent()
	if b.expired && !b.ending && b.hasUnstarted() {
		b.ending = true
		fl.ending = append(fl.ending, b)
	}
}

// expireDue ends the batches whose lifetime ran out by now, then what the
// expired batches' windows let end since (see markSent).
func (fl *filer) expireDue(now time.Time) {
	for {
		b, ok := fl.sched.lifetimes.due(now)
		if !ok {
			break
		}
		fl.expire(b, now)
	}
	for len(fl.ending) > 0 {
		b := fl.ending[len(fl.ending)-1]
		fl.ending[len(fl.ending)-1] = nil
		fl.ending = fl.ending[:len(fl.ending)-1]
		b.ending = false
		fl.endUnstarted(b, now)
	}
}

// expire ends b at its deadline: it leaves the scheduler (its gates no
// longer count it, its lanes are emptied, so a lane parked on a gate is
// dropped when the gate next wakes it), its retries waiting for a host
// end, and its URLs not started end as far as its window lets them; the
// rest end as the window moves on (markSent). Its requests in flight end
// by their contexts' deadline, the same.
func (fl *filer) expire(b *batchState, now time.Time) {
	b.expired = true
	fl.sched.remove(b)
	// b.flow kept: its requests in flight are still counted in it (released)
	for i, p := range fl.sched.polite.drop(&b.batchHosts) {
		r := p.resume.Last // as the fetcher kept it: without what its Do adds last
		r.URL, r.FetchedAt, r.ElapsedMS = b.url(i), p.resume.Start.UTC(), sinceMS(p.resume.Start)
		if p.hostWait > 0 {
			r.HostWaitMS = durationMS(p.hostWait)
		}
		b.inFlight++ // complete counts it out again
		fl.complete(b, i, fetchedOf(fl.endedRetry(r, p.resume.Attempts)))
	}
	fl.endUnstarted(b, now)
}

// endUnstarted ends, without a request, the URLs of the expired batch b
// that are not started, as far as its window reaches.
func (fl *filer) endUnstarted(b *batchState, now time.Time) {
	for b.hasUnstarted() && b.nextStart < b.sent+b.width {
		i := b.nextStart
		b.start(i)
		r := wire.Result{URL: b.url(i), FetchedAt: now.UTC(), Error: wire.ErrTimeout,
			Message: lifetimeMessage(fl.cfg.MaxBatchTime, "before this URL started")}
		if obs, ok := fl.cfg.Observer.(HostObserver); ok {
			obs.Refused(&r)
		}
		fl.complete(b, i, fetchedOf(r))
	}
}

// endedRetry is the result of a URL of an expired batch whose retry
// was waiting for its host: its last attempt's, ended as timeout.
func (fl *filer) endedRetry(last wire.Result, attempts int) wire.Result {
	kind := string(last.Error)
	if last.Error == wire.ErrHTTP {
		kind = fmt.Sprintf("status %d", last.Status)
	}
	last.Error = wire.ErrTimeout
	last.Message = lifetimeMessage(fl.cfg.MaxBatchTime,
		fmt.Sprintf("while this URL waited to retry (attempt %d ended as %s)", attempts, kind))
	if obs, ok := fl.cfg.Observer.(HostObserver); ok {
		obs.Refused(&last)
	}
	return last
}
