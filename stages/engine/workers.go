package engine

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
		// with, and contends for, the one context a shutdown cancels. (With
		// a batch lifetime it hangs off its batch's: see requestContext.)
		// It carries the stage's host signals, for the fetcher's 429s and
		// the retries it hands back.
		signals := &workerSignals{signalBoard: f.signals, deferOK: f.deferOK}
		ctx, cancel := context.WithCancel(f.ctx)
		defer cancel()
		ctx = hostsignal.With(ctx, signals)
		c := &completion{worker: w} // the worker's, filled by each task: see Fetch.work
		for t := range w {
			f.work(ctx, t, c, signals)
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
