package engine

import (
	"context"
	"time"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/hostsignal"
	"github.com/fetchstream/fetchstream/wire"
)

// This file is the dispatcher's side of the workers: a pool of
// goroutines, each fetching one task at a time and sending its completion
// back. Cost per URL: one channel send to its worker, one back.

// URLFetcher fetches one request into a result; *httpfetch.Fetcher is the
// real one. Do merges opts's defaults into req (see
// wire.RequestOptions.Apply), fails a request that must not be sent as
// invalid_request, and must return promptly once ctx is canceled.
type URLFetcher interface {
	Do(ctx context.Context, req wire.Request, opts *wire.RequestOptions, timeout time.Duration) wire.Result
}

// intoFetcher is a URLFetcher that also fetches with the request and the
// result by pointer, as *httpfetch.Fetcher does (DoInto): the stage then
// calls that, so that no copy of either is held in a worker's frames
// while its request waits for an answer (see requests.work).
type intoFetcher interface {
	DoInto(ctx context.Context, req *wire.Request, opts *wire.RequestOptions, timeout time.Duration, res *wire.Result)
}

// requests is what a worker needs to fetch a task: the stage's context
// and settings, the fetcher, the host signals and where completions go.
// It is shared by the workers and read-only once the stage starts.
type requests struct {
	ctx         context.Context
	cfg         FetchConfig
	fetcher     URLFetcher
	into        intoFetcher      // fetcher, when it is one
	completions chan *completion // each a worker's own, see requests.work
	signals     *signalBoard
	// deferOK: a retry that must wait for its host's pause is handed back
	// to wait in the scheduler, not in its worker; so when hosts are paused
	// and the Observer, if any, can be told (a HostObserver).
	deferOK bool
}

// task is one URL to fetch: index of batch, after waiting hostWait for
// its host.
type task struct {
	batch    *batchState
	index    int
	hostWait time.Duration
	resume   *hostsignal.Resume // a retry handed back, to go on with
	out      *stages.Fetched    // where the fetcher writes the result
	// stopped: granted after the dispatcher saw the stage canceled, so
	// let go by the stop, whatever its gates say; it ends canceled.
	stopped bool
}

type completion struct {
	batch *batchState
	index int
	// fetched holds the URL's result, written in place by the fetcher
	// (see task.out), then moved by pointer into the batch's window and
	// on to Out: a result is not copied on its way through the engine.
	fetched *stages.Fetched
	worker  worker // idle again once the completion is filed
	// retry is set when the fetch handed its retry back: the URL waits
	// for its host again, and result is not its last.
	retry *pendingRetry
}

// worker is a goroutine that fetches the tasks sent on its channel, one at
// a time, until the channel is closed. The channel holds one task at most.
type worker chan task

// workerIdle is how long workers may sit unneeded before they are stopped.
const workerIdle = 2 * time.Second

// minIdleWorkers is how many idle workers the pool keeps whatever is in
// flight (see workerPool.shed): as many as the default concurrency.
const minIdleWorkers = 64

// workerPool keeps the fetch stage's workers between tasks, so that under
// steady load requests run on goroutines whose stacks have already grown
// to what the HTTP client needs, instead of growing a fresh one per URL.
// It is owned by the dispatcher. A worker is either busy (its task is in
// flight) or in the idle stack, so there are never more workers than the
// most requests ever in flight at once: at most Concurrency. Idle workers
// beyond the number in flight (and minIdleWorkers) are stopped at once
// (shed); the others once they have stayed idle for workerIdle (trim).
type workerPool struct {
	idleStack []worker
	// fewestIdle is the fewest idle workers since the last trim: that many
	// were not needed at all in the meantime.
	fewestIdle int
}

// start runs t on an idle worker, or on a new one when none is idle.
func (p *workerPool) start(r *requests, t task) {
	if n := len(p.idleStack); n > 0 {
		w := p.idleStack[n-1]
		p.idleStack = p.idleStack[:n-1]
		p.fewestIdle = min(p.fewestIdle, len(p.idleStack))
		w <- t
		return
	}
	w := make(worker, 1)
	w <- t
	go func() {
		// Each request's timeout context hangs off the worker's own, not
		// off the stage's: otherwise every request in flight registers
		// with, and contends for, the one context a shutdown cancels. (With
		// a batch lifetime it hangs off its batch's: see requestContext.)
		// It carries the stage's host signals, for the fetcher's 429s and
		// the retries it hands back.
		signals := &workerSignals{signalBoard: r.signals, deferOK: r.deferOK}
		ctx, cancel := context.WithCancel(r.ctx)
		defer cancel()
		ctx = hostsignal.With(ctx, signals)
		c := &completion{worker: w} // the worker's, filled by each task: see requests.work
		for t := range w {
			r.work(ctx, t, c, signals)
		}
	}()
}

// idle takes back a worker whose task is done.
func (p *workerPool) idle(w worker) { p.idleStack = append(p.idleStack, w) }

// trim stops the workers that stayed idle since the last trim (the bottom
// of the stack: the least recently used).
func (p *workerPool) trim() {
	n := p.fewestIdle
	for _, w := range p.idleStack[:n] {
		close(w)
	}
	p.idleStack = append(p.idleStack[:0], p.idleStack[n:]...)
	p.fewestIdle = len(p.idleStack)
}

// shed stops the idle workers beyond max(inFlight, minIdleWorkers), the
// most recently idled first; the dispatcher calls it once it has started
// what it could. When a burst of requests ends (10,000 answered within a
// moment, say), the workers it no longer needs end then and there, and
// the runtime can reuse their stacks (8 KiB each) for what the answers
// need next (their responses, results and encoding) instead of holding
// them beside it until the next trim. Under steady load the requests in
// flight keep as many idle workers as can be needed.
func (p *workerPool) shed(inFlight int) {
	keep := max(inFlight, minIdleWorkers)
	for len(p.idleStack) > keep {
		n := len(p.idleStack) - 1
		close(p.idleStack[n])
		p.idleStack = p.idleStack[:n]
	}
	p.fewestIdle = min(p.fewestIdle, len(p.idleStack))
}

// stop ends every idle worker; called when no task is in flight.
func (p *workerPool) stop() {
	for _, w := range p.idleStack {
		close(w)
	}
	p.idleStack = nil
}

// work fetches t's URL into c, the worker's own completion (c.worker is
// the worker's channel, so the dispatcher can hand it the next task), and
// reports it. A retry that the fetch handed back (see
// hostsignal.Deferrer) is reported as such. A task granted after the stop
// is fetched with a canceled context, so that it ends canceled without a
// request (see stoppedContext).
//
// The completion is the worker's, on the heap, filled in place and sent
// by pointer: the worker's stack keeps the size of the deepest request it
// ran, so every byte held in the frames under work while a request waits
// for its answer is held in every one of Concurrency workers, and a frame
// that pushes a stack past a power of two doubles it.
func (rq *requests) work(ctx context.Context, t task, c *completion, signals *workerSignals) {
	b, i := t.batch, t.index
	if obs := rq.cfg.Observer; obs != nil {
		obs.RequestStarted()
	}
	ctx = b.requestContext(ctx, signals)
	if t.resume != nil {
		ctx = hostsignal.WithResume(ctx, *t.resume)
	}
	if t.stopped {
		ctx = rq.stoppedContext(ctx)
	}
	c.batch, c.index, c.retry = b, i, nil
	c.fetched = t.out
	r := &c.fetched.Result
	ctx, span := startURLSpan(ctx, b.job, i, t.hostWait, t.resume != nil)
	rq.fetchOne(ctx, b, i, r)
	resume := signals.handedBack()
	if span != nil {
		c.fetched.Span = span.SpanContext().SpanID()
		endURLSpan(span, r, resume != nil)
	}
	if resume != nil {
		if obs, ok := rq.cfg.Observer.(HostObserver); ok {
			obs.RequestDeferred()
		}
		c.retry = &pendingRetry{resume: *resume, hostWait: t.hostWait}
	} else {
		if t.hostWait > 0 {
			r.HostWaitMS = durationMS(t.hostWait)
		}
		if obs := rq.cfg.Observer; obs != nil {
			obs.RequestFinished(r)
		}
	}
	rq.completions <- c
}

// stoppedContext returns ctx canceled with the stage's cause. The worker's
// context is canceled with the stage's, but not at the same instant: a
// context closes its Done before it cancels its children, so the
// dispatcher may see the stop, let a URL go past its host's pause (see
// scheduler.stop) and hand it to a worker whose context does not say so
// yet. Fetched with that context, the URL (a retry handed back after a 503
// with Retry-After, say) would be sent at once, and again after each
// answer, for as long as the cancel takes to reach it.
func (r *requests) stoppedContext(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	cancel(context.Cause(r.ctx))
	return ctx
}

// fetchOne is the fetcher's call, into *r, with a panic in it turned into
// the URL's unexpected_error (see stages.Recover): the worker lives on,
// and so does the batch. What the deferred call holds in fetchOne's frame
// (on every worker's stack, under the whole request) is three pointers,
// not a copy of the request nor the panic's result.
func (rq *requests) fetchOne(ctx context.Context, b *batchState, i int, r *wire.Result) {
	defer stages.Recover(rq.cfg.OnPanic, func(v any) stages.Panic {
		url := b.url(i)
		*r = stages.PanicResult("the fetch", v, url)
		return stages.Panic{Stage: "fetch", BatchID: b.job.ID, Index: i, URL: url}
	})
	if rq.into != nil {
		rq.into.DoInto(ctx, &b.job.Requests[i], b.job.Options, b.job.Timeout, r)
		return
	}
	fetchByValue(ctx, rq.fetcher, &b.job.Requests[i], b.job.Options, b.job.Timeout, r)
}

// fetchByValue is the call of a fetcher that is no intoFetcher, out of
// line so that the copies it makes are in its frame, not in fetchOne's.
//
//go:noinline
func fetchByValue(ctx context.Context, fetcher URLFetcher, req *wire.Request, opts *wire.RequestOptions, timeout time.Duration, r *wire.Result) {
	*r = fetcher.Do(ctx, *req, opts, timeout)
}
