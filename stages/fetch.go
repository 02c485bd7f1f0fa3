package stages

import (
	"context"
	"fmt"
	"time"

	"github.com/reugn/go-streams"

	"github.com/fetchstream/fetchstream/wire"
)

// URLFetcher fetches one request into a result; *httpfetch.Fetcher is the
// real one. Do merges opts's defaults into req (see
// wire.RequestOptions.Apply), fails a request that must not be sent as
// invalid_request, and must return promptly once ctx is canceled.
type URLFetcher interface {
	Do(ctx context.Context, req wire.Request, opts *wire.RequestOptions, timeout time.Duration) wire.Result
}

// FetchConfig bounds the fetch stage.
type FetchConfig struct {
	// Concurrency is the global cap on requests in flight, across batches.
	Concurrency int
	// Window caps, per batch, the URLs started but not yet passed on: a
	// slow URL holds back at most Window-1 finished results behind it.
	Window int
	// MaxActive caps the batches in progress at once; further batches wait
	// in the input channel (and, behind it, in the source's buffers).
	MaxActive int
	// PerHost caps requests in flight to one host (host name and port, as
	// the URL names them; see hostKey), across batches; 0: no cap. A URL
	// whose host is at its cap waits while URLs after it (within the
	// window) to other hosts start. Redirects count against the first host.
	PerHost int
	// Observer, if set, is told of every request (for metrics).
	Observer Observer
}

// Observer is told what the fetch stage does. Its methods are called from
// many goroutines at once and must return quickly.
type Observer interface {
	// RequestStarted is called as a URL's fetch starts.
	RequestStarted()
	// RequestFinished is called with the URL's result as its fetch ends.
	RequestFinished(r *wire.Result)
}

func (c FetchConfig) validate() error {
	switch {
	case c.Concurrency < 1:
		return fmt.Errorf("%w: concurrency must be at least 1, got %d", ErrConfig, c.Concurrency)
	case c.Window < 1:
		return fmt.Errorf("%w: window must be at least 1, got %d", ErrConfig, c.Window)
	case c.MaxActive < 1:
		return fmt.Errorf("%w: max active batches must be at least 1, got %d", ErrConfig, c.MaxActive)
	case c.PerHost < 0:
		return fmt.Errorf("%w: per-host cap must not be negative, got %d", ErrConfig, c.PerHost)
	}
	return nil
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
// flight; at most MaxActive jobs in progress. Slots are shared fairly
// between jobs, weighted by priority (see scheduler). When ctx is canceled, requests in flight end as canceled
// results and URLs not yet started end as canceled without a request; the
// stage still emits every result, then closes its output once its input is
// closed and all is passed on. Fetch closes Out; the upstream closes In.
// Out holds up to HandoffBuffer elements, across jobs: a result counts as
// passed on, and frees its window slot, once it is in Out.
type Fetch struct {
	ports       // In, Out, Via and To; Fetch closes Out, the upstream closes In
	ctx         context.Context
	cfg         FetchConfig
	fetcher     URLFetcher
	completions chan completion
}

// task is one URL to fetch: index of batch.
type task struct {
	batch *batchState
	index int
}

type completion struct {
	batch  *batchState
	index  int
	result wire.Result
	worker worker // idle again once the completion is filed
}

var _ streams.Flow = (*Fetch)(nil)

// NewFetch validates cfg and starts the stage.
func NewFetch(ctx context.Context, fetcher URLFetcher, cfg FetchConfig) (*Fetch, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	f := &Fetch{
		ctx:         ctx,
		cfg:         cfg,
		fetcher:     fetcher,
		ports:       ports{in: make(chan any), out: make(chan any, HandoffBuffer)},
		completions: make(chan completion, cfg.Concurrency),
	}
	go f.dispatch()
	return f, nil
}

// dispatch is the stage's one owner of state: it admits jobs, starts
// requests while slots are free, orders completions and feeds Out.
func (f *Fetch) dispatch() {
	defer close(f.out)
	sched := newScheduler(f.cfg.Concurrency, f.cfg.PerHost)
	var (
		queue    outQueue
		workers  workerPool
		inFlight int
		inOpen   = true
		active   int
	)
	defer workers.stop()
	trim := time.NewTicker(workerIdle)
	defer trim.Stop()
	for {
		for inFlight < f.cfg.Concurrency {
			b, i, ok := sched.next()
			if !ok {
				break
			}
			inFlight++
			workers.start(f, task{batch: b, index: i})
		}
		if !inOpen && active == 0 && inFlight == 0 && queue.empty() {
			return
		}
		var input <-chan any
		if inOpen && active < f.cfg.MaxActive {
			input = f.in
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
			inFlight--
			workers.idle(c.worker)
			sched.finished(c.batch, c.index)
			if f.complete(c, sched, &queue) {
				active--
			}
		case output <- head.element:
			queue.pop()
			if head.batch != nil {
				head.batch.markSent()
			}
		case <-trim.C:
			workers.trim()
		}
	}
}

// admit takes an element from the input and reports whether it became an
// active batch.
func (f *Fetch) admit(element any, sched *scheduler, queue *outQueue) bool {
	job, ok := element.(*Job)
	if !ok {
		queue.push(queued{element: element}) // not ours: pass it on untouched
		return false
	}
	if job.Err != nil || len(job.Requests) == 0 {
		queue.push(queued{element: rejected(job)})
		return false
	}
	if job.Flow == "" {
		job.Flow = job.ID
	}
	sched.add(newBatchState(job, f.cfg.Window, f.cfg.PerHost > 0))
	return true
}

// work fetches t's URL and reports the completion, with the worker's own
// channel so the dispatcher can hand it the next task.
func (f *Fetch) work(ctx context.Context, t task, w worker) {
	b, i := t.batch, t.index
	if obs := f.cfg.Observer; obs != nil {
		obs.RequestStarted()
	}
	r := f.fetcher.Do(ctx, b.job.Requests[i], b.job.Options, b.job.Timeout)
	if obs := f.cfg.Observer; obs != nil {
		obs.RequestFinished(&r)
	}
	f.completions <- completion{batch: b, index: i, result: r, worker: w}
}

// complete files a finished request and reports whether its batch is
// now done (every result queued, then its Done).
func (f *Fetch) complete(c completion, sched *scheduler, queue *outQueue) bool {
	b := c.batch
	b.complete(c.index, c.result, func(r wire.Result) {
		r.BatchID, r.CorrelationID, r.Index, r.Count = b.job.ID, b.job.CorrelationID, b.queued, len(b.job.Requests)
		queue.push(queued{element: &Fetched{Job: b.job, Result: r}, batch: b})
	})
	if !b.allQueued() {
		return false
	}
	sched.remove(b)
	b.summary.ElapsedMS = sinceMS(b.job.Start)
	queue.push(queued{element: &Done{Job: b.job, Summary: b.summary}})
	return true
}

func rejected(job *Job) *Done {
	s := wire.Summary{BatchID: job.ID, CorrelationID: job.CorrelationID, ElapsedMS: sinceMS(job.Start)}
	if job.Err != nil {
		s.Error, s.Message, s.Count = job.Err.Kind, job.Err.Message, job.Err.Count
	}
	return &Done{Job: job, Summary: s}
}

func sinceMS(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }
