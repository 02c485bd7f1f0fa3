package engine

import (
	"context"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/reugn/go-streams"
	"github.com/reugn/go-streams/flow"

	"github.com/fetchstream/fetchstream/stages/polite"
	"github.com/fetchstream/fetchstream/wire"
)

// This file is the dispatcher (see the package doc): the Flow, its one
// goroutine and its loop, which holds the semaphore (inFlight <
// Concurrency) and asks the scheduler for the URL to start. Cost per
// URL: a pass of the loop shared with the completions that came with it,
// a hand-off to a worker and back, and a send into Out.

// Fetch is the ordered, bounded-parallel fetch Flow. It takes *Job and
// emits, for each job, one *Fetched per URL in index order, each as soon
// as it and every URL before it in its job are done, then one *Done whose
// summary holds the batch's ids, count and elapsed time (the counts by
// kind are the publisher's, from what it publishes). Jobs interleave freely: a slow URL holds back only its own
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
	in   chan any // the upstream closes it
	out  chan any // Fetch closes it
	ctx  context.Context
	cfg  FetchConfig
	reqs *requests      // what the workers fetch with
	held *heldBudget    // the dispatcher's; Held reads its counts
	bots *robotsFetches // nil when the fetcher cannot fetch robots.txt
}

var _ streams.Flow = (*Fetch)(nil)

// In returns the stage's input; the upstream closes it.
func (f *Fetch) In() chan<- any { return f.in }

// Out returns the stage's output, which it closes once it is done.
func (f *Fetch) Out() <-chan any { return f.out }

// Via streams the output to next and returns next. A next stage that can
// read Out itself (a ReadFrom method that takes it, as the encode stage
// has) does, with no relay goroutine between the two; to any other,
// go-streams' flow.DoStream relays it.
func (f *Fetch) Via(next streams.Flow) streams.Flow {
	if r, ok := next.(outputReader); ok && r.ReadFrom(f.out) {
		return next
	}
	flow.DoStream(f, next)
	return next
}

// outputReader is a Flow or Sink that can take its elements from the
// output of the stage before it instead of its In (see stages' encode
// flow, connectors' Publisher).
type outputReader interface {
	ReadFrom(out <-chan any) bool
}

// To streams the output to sink and blocks until the sink completes. A
// sink that can read Out itself (a ReadFrom method that takes it, as the
// publisher has) does, with no relay goroutine between the two; to any
// other, go-streams' flow.DoStream relays it.
func (f *Fetch) To(sink streams.Sink) {
	if r, ok := sink.(outputReader); !ok || !r.ReadFrom(f.out) {
		flow.DoStream(f, sink)
	}
	sink.AwaitCompletion()
}

// NewFetch validates cfg and starts the stage.
func NewFetch(ctx context.Context, fetcher URLFetcher, cfg FetchConfig) (*Fetch, error) {
	if err := cfg.Validate(); err != nil {
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
		return nil, wire.NewConfigError(ErrConfig, "Robots", "is on, and the fetcher cannot fetch robots.txt (not a RobotsFetcher)")
	}
	_, hostObserver := cfg.Observer.(HostObserver)
	f := &Fetch{
		ctx: ctx,
		cfg: cfg,
		in:  make(chan any),
		out: make(chan any, stages.HandoffBuffer),
		reqs: &requests{ctx: ctx, cfg: cfg, fetcher: fetcher, into: into,
			completions: make(chan *completion, cfg.Concurrency), signals: newSignalBoard(cfg),
			deferOK: cfg.MaxHostPause > 0 && (cfg.Observer == nil || hostObserver)},
		held: newHeldBudget(cfg),
	}
	if robots != nil {
		f.bots = newRobotsFetches(ctx, robots, cfg, cfg.OnPanic)
	}
	go f.dispatch()
	return f, nil
}

// dispatch is the stage's one owner of state: it admits jobs, starts
// requests while slots are free, orders completions and feeds Out. Its
// timer is set for the earliest moment a held host may pass again (a
// token, the end of a pause): no polling.
func (f *Fetch) dispatch() {
	defer close(f.out)
	var (
		startRobots func(*gate)
		robotsDone  chan robotsResult
	)
	if f.bots != nil {
		startRobots, robotsDone = f.bots.start, f.bots.done
	}
	sched := newScheduler(f.cfg, startRobots)
	sched.ctx = f.ctx // the batches' contexts hang off the stage's
	sched.held = f.held
	books := &filer{cfg: f.cfg, sched: sched}
	books.queue.budget = f.held
	var (
		workers     workerPool
		inFlight    int
		inOpen      = true
		canceled    = f.ctx.Done()
		wake        = newWakeTimer()
		report      = newHostReporter(f.cfg)
		signals     = f.reqs.signals
		fleetEvents <-chan FleetEvent
	)
	if f.cfg.Fleet != nil {
		fleetEvents = f.cfg.Fleet.Events()
	}
	defer workers.stop()
	defer wake.stop()
	trim := time.NewTicker(workerIdle)
	defer trim.Stop()
	for {
		f.passOn(books) // first, so that the window slots it frees are granted below
		now := time.Now()
		sched.polite.wakeDue(now)
		books.expireDue(now)
		for inFlight < f.cfg.Concurrency { // the semaphore
			g, ok := sched.next(now)
			if !ok {
				break
			}
			if g.refused {
				books.refuse(g)
				continue
			}
			inFlight++
			workers.start(f.reqs, task{batch: g.batch, index: g.index, hostWait: g.hostWait, resume: g.resume,
				stopped: sched.polite.stopped(), out: stages.NewFetched()})
		}
		workers.shed(inFlight)
		if !inOpen && books.active == 0 && inFlight == 0 && books.queue.empty() && (f.bots == nil || f.bots.pending == 0) {
			report.report(sched.polite, now, true)
			return
		}
		wake.set(sched.nextWake(), now)
		sched.admission.tell(f.cfg.OnWaiting)
		var input <-chan any
		if inOpen && sched.admission.busy(books.active) < f.cfg.MaxActive && books.active < f.cfg.MaxActive+f.cfg.MaxWaiting {
			input = f.in // batches that only wait for their hosts do not count as busy (see admission)
		}
		var output chan<- any
		var head queued
		if !books.queue.empty() {
			output, head = f.out, books.queue.front()
		}
		select {
		case element, ok := <-input:
			if !ok {
				inOpen = false
				continue
			}
			books.admit(element)
		case c := <-f.reqs.completions:
			// The completions that came meanwhile are filed with it, before
			// the slots they free are granted: one pass of the loop (and of
			// this select) for a run of them, not one each.
			now := time.Now()
			for more := true; more; {
				inFlight--
				f.file(c, books, &workers, now)
				select {
				case c = <-f.reqs.completions:
				default:
					more = false
				}
			}
		case sig := <-signals.ch:
			sched.slowDown(sig)
		case e := <-fleetEvents:
			now := time.Now()
			if e.Host != "" && e.PausedUntil.After(now) && f.cfg.MaxHostPause > 0 {
				signals.notePause(e.Host, now.Add(min(e.PausedUntil.Sub(now), f.cfg.MaxHostPause)))
			}
			sched.fleetEvent(e, now)
		case r := <-robotsDone:
			f.bots.pending--
			sched.polite.robotsFetched(r, time.Now())
		case output <- head.element:
			books.queue.pop()
			if head.batch != nil {
				books.markSent(head.batch)
			}
		case <-wake.c():
			wake.fired()
		case <-canceled:
			canceled = nil
			sched.stop()
		case <-report.c():
			report.report(sched.polite, time.Now(), false)
		case <-trim.C:
			workers.trim()
			now := time.Now()
			sched.polite.sweep(now)
			signals.sweep(now)
		}
	}
}

// file takes a worker's completion, taken at now: the worker is idle
// again, the scheduler hears of the request's end, and the result is
// filed in its batch (see filer.complete), or its retry waits for its
// host.
func (f *Fetch) file(c *completion, books *filer, workers *workerPool, now time.Time) {
	f.takeSignals(books.sched) // a host's slow-down before the completion of the request it came with
	workers.idle(c.worker)
	books.sched.finished(c.batch, c.index, &c.fetched.Result, now)
	if c.retry != nil && c.batch.expired { // its batch ended: the retry ends with it
		c.fetched.Result, c.retry = books.endedRetry(c.fetched.Result, c.retry.resume.Attempts), nil
	}
	if c.retry != nil {
		books.sched.requeue(c.batch, c.index, *c.retry, now)
	} else {
		books.complete(c.batch, c.index, c.fetched)
	}
	*c = completion{worker: c.worker} // filed: the worker's completion holds neither batch nor body until its next task
}

// passOn sends the queue's elements to Out while Out has room, without
// blocking: the dispatcher's select waits on Out only once it is full.
func (f *Fetch) passOn(books *filer) {
	for !books.queue.empty() {
		head := books.queue.front()
		select {
		case f.out <- head.element:
		default:
			return
		}
		books.queue.pop()
		if head.batch != nil {
			books.markSent(head.batch)
		}
	}
}

// takeSignals files the hosts' slow-downs already sent.
func (f *Fetch) takeSignals(sched *scheduler) {
	for {
		select {
		case sig := <-f.reqs.signals.ch:
			sched.slowDown(sig)
		default:
			return
		}
	}
}

// Held reports the bytes of results the stage holds now, and at most so
// far; safe to call from any goroutine.
func (f *Fetch) Held() HeldBytes { return f.held.counts() }
