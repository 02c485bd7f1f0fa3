package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/reugn/go-streams"
	"github.com/reugn/go-streams/flow"

	"github.com/fetchstream/fetchstream/stages/engine/polite"
	"github.com/fetchstream/fetchstream/stages/hostsignal"
	"github.com/fetchstream/fetchstream/wire"
)

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
// while its request waits for an answer (see Fetch.work).
type intoFetcher interface {
	DoInto(ctx context.Context, req *wire.Request, opts *wire.RequestOptions, timeout time.Duration, res *wire.Result)
}

// Fetch is the ordered, bounded-parallel fetch Flow. It takes *Job and
// emits, for each job, one *Fetched per URL in index order, each as soon
// as it and every URL before it in its job are done, then one *Done with
// the summary. Jobs interleave freely: a slow URL holds back only its own
// job. A job with Err set is not fetched; it becomes a lone *Done.
//
//	in   -- J1[a b c] -- J2[d] ------------------------------
//	out  -------- J1a --- J2d J2✓ ---- J1b J1c J1✓ ----------
//
// Bounds: at most Concurrency requests in flight; per job at most Window
// URLs started and not yet passed on, and at most its own Concurrency in
// flight; at most MaxActive jobs in progress, not counting those that
// only wait for their hosts, and MaxActive+MaxWaiting in all (see
// admission); per host the rules of FetchConfig, a URL held by them
// waiting without a slot; every job ends by its lifetime, MaxBatchTime
// from its Start, what is left of it then ending as timeout (see
// batchLife). Slots are shared fairly between jobs, weighted by priority
// (see scheduler). When ctx is
// canceled, requests in flight end as canceled results and URLs not yet
// started (held by their hosts or not) end as canceled without a request; the
// stage still emits every result, then closes its output once its input is
// closed and all is passed on. Fetch closes Out; the upstream closes In.
// Out holds up to HandoffBuffer elements, across jobs: a result counts as
// passed on, and frees its window slot, once it is in Out. A fetcher that
// panics ends its URL as unexpected_error (see Panic).
type Fetch struct {
	in          chan any // the upstream closes it
	out         chan any // Fetch closes it
	ctx         context.Context
	cfg         FetchConfig
	fetcher     URLFetcher
	into        intoFetcher      // fetcher, when it is one
	completions chan *completion // each a worker's own, see Fetch.work
	signals     *signalBoard
	held        *heldBudget // the dispatcher's; Held reads its counts

	robots        RobotsFetcher // nil when the fetcher is not one
	robotsSem     chan struct{}
	robotsDone    chan robotsResult
	robotsPending int // robots.txt fetches under way; the dispatcher's
	// deferOK: a retry that must wait for its host's pause is handed back
	// to wait here, not in its worker; so when hosts are paused and the
	// Observer, if any, can be told (a HostObserver).
	deferOK bool
	// ending: expired batches whose window moved, with URLs to end (the
	// dispatcher's; see markSent).
	ending []*batchState
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

var _ streams.Flow = (*Fetch)(nil)

// In returns the stage's input; the upstream closes it.
func (f *Fetch) In() chan<- any { return f.in }

// Out returns the stage's output, which it closes once it is done.
func (f *Fetch) Out() <-chan any { return f.out }

// Via streams the output to next and returns next.
func (f *Fetch) Via(next streams.Flow) streams.Flow {
	flow.DoStream(f, next)
	return next
}

// To streams the output to sink and blocks until the sink completes.
func (f *Fetch) To(sink streams.Sink) {
	flow.DoStream(f, sink)
	sink.AwaitCompletion()
}

// NewFetch validates cfg and starts the stage.
func NewFetch(ctx context.Context, fetcher URLFetcher, cfg FetchConfig) (*Fetch, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.PerHostKey, _ = polite.ParseHostKeyMode(string(cfg.PerHostKey))
	if cfg.RobotsTTL == 0 {
		cfg.RobotsTTL = DefaultRobotsTTL
	}
	if cfg.RobotsUserAgent == "" {
		cfg.RobotsUserAgent = "fetchstream"
	}
	robots, _ := fetcher.(RobotsFetcher)
	into, _ := fetcher.(intoFetcher)
	if cfg.Robots && robots == nil {
		return nil, fmt.Errorf("%w: robots.txt is on, and the fetcher cannot fetch it (not a RobotsFetcher)", stages.ErrConfig)
	}
	f := &Fetch{
		ctx:         ctx,
		cfg:         cfg,
		fetcher:     fetcher,
		into:        into,
		in:          make(chan any),
		out:         make(chan any, stages.HandoffBuffer),
		completions: make(chan *completion, cfg.Concurrency),
		signals:     newSignalBoard(cfg),
		held:        newHeldBudget(cfg),
		robots:      robots,
		robotsSem:   make(chan struct{}, cfg.Concurrency),
		robotsDone:  make(chan robotsResult),
	}
	_, hostObserver := cfg.Observer.(HostObserver)
	f.deferOK = cfg.MaxHostPause > 0 && (cfg.Observer == nil || hostObserver)
	go f.dispatch()
	return f, nil
}

// dispatch is the stage's one owner of state: it admits jobs, starts
// requests while slots are free, orders completions and feeds Out. Its
// timer is set for the earliest moment a held host may pass again (a
// token, the end of a pause): no polling.
func (f *Fetch) dispatch() {
	defer close(f.out)
	var startRobots func(*gate)
	if f.robots != nil {
		startRobots = f.fetchRobots
	}
	sched := newScheduler(f.cfg, startRobots)
	sched.ctx = f.ctx // the batches' contexts hang off the stage's
	sched.held = f.held
	var (
		queue    outQueue
		workers  workerPool
		inFlight int
		inOpen   = true
		active   int
		canceled = f.ctx.Done()
		wake     = newWakeTimer()
		hosts    = newHostReporter(f.cfg)
	)
	queue.budget = f.held
	defer workers.stop()
	defer wake.stop()
	trim := time.NewTicker(workerIdle)
	defer trim.Stop()
	for {
		f.passOn(&queue) // first, so that the window slots it frees are granted below
		now := time.Now()
		sched.wakeDue(now)
		f.expireDue(sched, &queue, &active, now)
		for inFlight < f.cfg.Concurrency {
			g, ok := sched.next(now)
			if !ok {
				break
			}
			if g.refused {
				f.refuse(g, sched, &queue, &active)
				continue
			}
			inFlight++
			workers.start(f, task{batch: g.batch, index: g.index, hostWait: g.hostWait, resume: g.resume,
				stopped: sched.stopping, out: stages.NewFetched()})
		}
		workers.shed(inFlight)
		if !inOpen && active == 0 && inFlight == 0 && queue.empty() && f.robotsPending == 0 {
			hosts.report(sched, now, true)
			return
		}
		wake.set(sched.nextWake(), now)
		f.tellWaiting(sched)
		var input <-chan any
		if inOpen && sched.busyBatches(active) < f.cfg.MaxActive && active < f.cfg.MaxActive+f.cfg.MaxWaiting {
			input = f.in // batches that only wait for their hosts do not count as busy (see admission)
		}
		var output chan<- any
		var head queued
		if !queue.empty() {
			output, head = f.out, queue.front()
		}
		select {
		case element, ok := <-input:
			if !ok {
				inOpen = false
				continue
			}
			if f.admit(element, sched, &queue) {
				active++
			}
		case c := <-f.completions:
			// The completions that came meanwhile are filed with it, before
			// the slots they free are granted: one pass of the loop (and of
			// this select) for a run of them, not one each.
			for more := true; more; {
				inFlight--
				if f.file(c, sched, &workers, &queue) {
					active--
				}
				select {
				case c = <-f.completions:
				default:
					more = false
				}
			}
		case sig := <-f.signals.ch:
			sched.slowDown(sig)
		case r := <-f.robotsDone:
			f.robotsPending--
			sched.robotsFetched(r, time.Now())
		case output <- head.element:
			queue.pop()
			if head.batch != nil {
				f.markSent(head.batch)
			}
		case <-wake.c():
			wake.fired()
		case <-canceled:
			canceled = nil
			sched.stop()
		case <-hosts.c():
			hosts.report(sched, time.Now(), false)
		case <-trim.C:
			workers.trim()
			now := time.Now()
			sched.sweep(now)
			f.signals.sweep(now)
		}
	}
}

// file takes a worker's completion: the worker is idle again, the
// scheduler hears of the request's end, and the result is filed in its
// batch, or its retry waits for its host. It reports whether the batch is
// now done (see complete).
func (f *Fetch) file(c *completion, sched *scheduler, workers *workerPool, queue *outQueue) bool {
	f.takeSignals(sched) // a host's slow-down before the completion of the request it came with
	workers.idle(c.worker)
	now := time.Now()
	sched.finished(c.batch, c.index, &c.fetched.Result, now)
	done := false
	if c.retry != nil && c.batch.expired { // its batch ended: the retry ends with it
		c.fetched.Result, c.retry = f.endedRetry(c.fetched.Result, c.retry.resume.Attempts), nil
	}
	if c.retry != nil {
		sched.requeue(c.batch, c.index, *c.retry, now)
	} else {
		done = f.complete(c, sched, queue)
	}
	*c = completion{worker: c.worker} // filed: the worker's completion holds neither batch nor body until its next task
	return done
}

// passOn sends the queue's elements to Out while Out has room, without
// blocking: the dispatcher's select waits on Out only once it is full.
func (f *Fetch) passOn(queue *outQueue) {
	for !queue.empty() {
		head := queue.front()
		select {
		case f.out <- head.element:
		default:
			return
		}
		queue.pop()
		if head.batch != nil {
			f.markSent(head.batch)
		}
	}
}

// takeSignals files the hosts' slow-downs already sent.
func (f *Fetch) takeSignals(sched *scheduler) {
	for {
		select {
		case sig := <-f.signals.ch:
			sched.slowDown(sig)
		default:
			return
		}
	}
}

// admit takes an element from the input and reports whether it became an
// active batch.
func (f *Fetch) admit(element any, sched *scheduler, queue *outQueue) bool {
	job, ok := element.(*stages.Job)
	if !ok {
		queue.push(queued{element: element}) // not ours: pass it on untouched
		return false
	}
	if job.Err != nil || len(job.Requests) == 0 {
		queue.push(queued{element: stages.Rejected(job)})
		return false
	}
	if job.Flow == "" {
		job.Flow = job.ID
	}
	sched.add(newBatchState(job, f.cfg.Window))
	return true
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
func (f *Fetch) work(ctx context.Context, t task, c *completion, signals *workerSignals) {
	b, i := t.batch, t.index
	if obs := f.cfg.Observer; obs != nil {
		obs.RequestStarted()
	}
	ctx = b.requestContext(ctx, signals)
	if t.resume != nil {
		ctx = hostsignal.WithResume(ctx, *t.resume)
	}
	if t.stopped {
		ctx = f.stoppedContext(ctx)
	}
	c.batch, c.index, c.retry = b, i, nil
	c.fetched = t.out
	r := &c.fetched.Result
	f.fetchOne(ctx, b, i, r)
	if resume := signals.handedBack(); resume != nil {
		if obs, ok := f.cfg.Observer.(HostObserver); ok {
			obs.RequestDeferred()
		}
		c.retry = &pendingRetry{resume: *resume, hostWait: t.hostWait}
	} else {
		if t.hostWait > 0 {
			r.HostWaitMS = durationMS(t.hostWait)
		}
		if obs := f.cfg.Observer; obs != nil {
			obs.RequestFinished(r)
		}
	}
	f.completions <- c
}

// stoppedContext returns ctx canceled with the stage's cause. The worker's
// context is canceled with the stage's, but not at the same instant: a
// context closes its Done before it cancels its children, so the
// dispatcher may see the stop, let a URL go past its host's pause (see
// scheduler.stop) and hand it to a worker whose context does not say so
// yet. Fetched with that context, the URL (a retry handed back after a 503
// with Retry-After, say) would be sent at once, and again after each
// answer, for as long as the cancel takes to reach it.
func (f *Fetch) stoppedContext(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	cancel(context.Cause(f.ctx))
	return ctx
}

// fetchOne is the fetcher's call, into *r, with a panic in it turned into
// the URL's unexpected_error (see stages.Recover): the worker lives on,
// and so does the batch. What the deferred call holds in fetchOne's frame
// (on every worker's stack, under the whole request) is three pointers,
// not a copy of the request nor the panic's result.
func (f *Fetch) fetchOne(ctx context.Context, b *batchState, i int, r *wire.Result) {
	defer stages.Recover(f.cfg.OnPanic, func(v any) stages.Panic {
		url := b.url(i)
		*r = stages.PanicResult("the fetch", v, url)
		return stages.Panic{Stage: "fetch", BatchID: b.job.ID, Index: i, URL: url}
	})
	if f.into != nil {
		f.into.DoInto(ctx, &b.job.Requests[i], b.job.Options, b.job.Timeout, r)
		return
	}
	fetchByValue(ctx, f.fetcher, &b.job.Requests[i], b.job.Options, b.job.Timeout, r)
}

// fetchByValue is the call of a fetcher that is no intoFetcher, out of
// line so that the copies it makes are in its frame, not in fetchOne's.
//
//go:noinline
func fetchByValue(ctx context.Context, fetcher URLFetcher, req *wire.Request, opts *wire.RequestOptions, timeout time.Duration, r *wire.Result) {
	*r = fetcher.Do(ctx, *req, opts, timeout)
}

// refuse files the result of a URL that robots.txt disallows: no request,
// no worker.
func (f *Fetch) refuse(g grant, sched *scheduler, queue *outQueue, active *int) {
	r := wire.Result{URL: g.batch.url(g.index), FetchedAt: time.Now().UTC(), Error: wire.ErrRobotsDisallowed,
		Message: "the site's robots.txt disallows this URL for " + robotsAgent(g.batch.job, f.cfg.RobotsUserAgent)}
	if g.hostWait > 0 {
		r.HostWaitMS = durationMS(g.hostWait)
	}
	if obs, ok := f.cfg.Observer.(HostObserver); ok {
		obs.Refused(&r)
	}
	if f.complete(&completion{batch: g.batch, index: g.index, fetched: fetchedOf(r)}, sched, queue) {
		*active--
	}
}

// complete files a finished request and reports whether its batch is
// now done (every result queued, then its Done).
func (f *Fetch) complete(c *completion, sched *scheduler, queue *outQueue) bool {
	b := c.batch
	sched.held.add(resultBytes(&c.fetched.Result))
	b.complete(c.index, c.fetched, func(fetched *stages.Fetched) {
		r := &fetched.Result
		r.BatchID, r.CorrelationID, r.Index, r.Count = b.job.ID, b.job.CorrelationID, b.queued, len(b.job.Requests)
		fetched.Job = b.job
		queue.push(queued{element: fetched, batch: b, held: resultBytes(r)})
	})
	if !b.allQueued() {
		return false
	}
	sched.remove(b)
	b.summary.ElapsedMS = sinceMS(b.job.Start)
	queue.push(queued{element: &stages.Done{Job: b.job, Summary: b.summary}})
	return true
}

// fetchedOf is r in a *stages.Fetched, for a result made without a
// request (refused, or ended by its batch's lifetime).
func fetchedOf(r wire.Result) *stages.Fetched {
	fetched := stages.NewFetched()
	fetched.Result = r
	return fetched
}

func sinceMS(t time.Time) float64 { return durationMS(time.Since(t)) }

func durationMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
