package stages

import (
	"context"
	"time"

	"github.com/fetchstream/fetchstream/stages/hostsignal"
)

// worker is a goroutine that fetches the tasks sent on its channel, one at
// a time, until the channel is closed. The channel holds one task at most.
type worker chan task

// workerIdle is how long workers may sit unneeded before they are stopped.
const workerIdle = 2 * time.Second

// workerPool keeps the fetch stage's workers between tasks, so that under
// steady load requests run on goroutines whose stacks have already grown
// to what the HTTP client needs, instead of growing a fresh one per URL.
// It is owned by the dispatcher. A worker is either busy (its task is in
// flight) or in the idle stack, so there are never more workers than the
// most requests ever in flight at once: at most Concurrency.
type workerPool struct {
	idleStack []worker
	// fewestIdle is the fewest idle workers since the last trim: that many
	// were not needed at all in the meantime.
	fewestIdle int
}

// start runs t on an idle worker, or on a new one when none is idle.
func (p *workerPool) start(f *Fetch, t task) {
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
		// with, and contends for, the one context a shutdown cancels.
		// It carries the stage's host signals, for the fetcher's 429s and
		// the retries it hands back.
		signals := &workerSignals{signalBoard: f.signals, deferOK: f.deferOK}
		ctx, cancel := context.WithCancel(f.ctx)
		defer cancel()
		ctx = hostsignal.With(ctx, signals)
		// The worker's completion, reused for each of its tasks: the
		// dispatcher is done with it before it sends the next task.
		c := new(completion)
		for t := range w {
			f.work(ctx, t, w, signals, c)
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

// stop ends every idle worker; called when no task is in flight.
func (p *workerPool) stop() {
	for _, w := range p.idleStack {
		close(w)
	}
	p.idleStack = nil
}
