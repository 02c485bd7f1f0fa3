package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// lateCancel is a stage context whose cancel closes Done at once and
// cancels the contexts derived from it only when released. A real cancel
// does the same in that order (Done first, then each child), so the window
// between the two, which load stretches, is held open here for as long as
// a test needs. Children learn of it through AfterFunc (see
// context.WithCancel).
type lateCancel struct {
	done chan struct{}

	mu       sync.Mutex
	err      error
	released bool
	after    map[*func()]struct{}
}

func newLateCancel(t *testing.T) *lateCancel {
	c := &lateCancel{done: make(chan struct{}), after: map[*func()]struct{}{}}
	t.Cleanup(func() { c.cancel(); c.release() })
	return c
}

func (*lateCancel) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *lateCancel) Done() <-chan struct{}     { return c.done }
func (*lateCancel) Value(any) any               { return nil }

func (c *lateCancel) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// AfterFunc runs f once the context is released (at once, in its own
// goroutine, if it is already); the returned stop keeps it from running.
func (c *lateCancel) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		go f()
		return func() bool { return false }
	}
	key := &f
	c.after[key] = struct{}{}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.after[key]
		delete(c.after, key)
		return ok
	}
}

// cancel closes Done; the derived contexts stay live until release.
func (c *lateCancel) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = context.Canceled
		close(c.done)
	}
}

// release cancels the derived contexts.
func (c *lateCancel) release() {
	c.mu.Lock()
	after := c.after
	c.after, c.released = nil, true
	c.mu.Unlock()
	for f := range after {
		(*f)()
	}
}

// A retry handed back to wait for its host's pause ends as canceled, with
// no request, when the stage is canceled meanwhile, even while the
// worker's context does not say so yet: the stop lets it go past the
// pause, so that it may end, not so that it is sent. (Before the fix it
// was sent at once, twice, and ended as the third 503.)
func TestStopSendsNoRetryThroughALateCancel(t *testing.T) {
	ctx := newLateCancel(t)
	cancelWhileARetryWaits(t, ctx, ctx.cancel)
}

// A URL that its host's pace holds when the stage is canceled ends as
// canceled without a request, even while the worker's context does not
// say so yet.
func TestStopSendsNoHeldURLThroughALateCancel(t *testing.T) {
	target := fetchtest.NewTarget(t)
	ctx := newLateCancel(t)
	run := startFetch(t, ctx, loopbackFetcher(t, 2),
		FetchConfig{Concurrency: 2, Window: 8, MaxActive: 4, PerHostRate: 0.1, PerHostBurst: 1})
	j := job("j", time.Minute, target.URL("/text"), target.URL("/text"))
	run.stage.In() <- j
	waitFor(t, "the first request", func() bool { return len(target.Hits("/text")) == 1 })
	ctx.cancel()
	got := run.finish(t)
	checkOrdered(t, got, j)
	if r := resultsOf(got, "j")[1]; r.Error != wire.ErrCanceled || r.Attempts != 0 {
		t.Errorf("the held URL: %q after %d attempts (%s), want canceled without a request", r.Error, r.Attempts, r.Message)
	}
	if n := len(target.Hits("/text")); n != 1 {
		t.Errorf("%d requests, want the first alone: the second was held by its host's pace of one per 10s", n)
	}
}
