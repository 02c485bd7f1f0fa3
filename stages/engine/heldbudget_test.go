package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/wire"
)

// sizedFetcher answers every URL with a body of its size, at once or
// after a short random delay, except URLs ending in /hang, which wait
// until release is closed.
type sizedFetcher struct {
	size    int
	jitter  bool
	release chan struct{}
	started atomic.Int64
}

func (f *sizedFetcher) Do(ctx context.Context, req wire.Request, _ *wire.RequestOptions, _ time.Duration) wire.Result {
	f.started.Add(1)
	if strings.HasSuffix(req.URL, "/hang") {
		select {
		case <-f.release:
		case <-ctx.Done():
			return wire.Result{URL: req.URL, Error: wire.ErrCanceled, Message: "canceled"}
		}
	} else if f.jitter {
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
	}
	return wire.Result{URL: req.URL, Status: 200, Body: make(json.RawMessage, f.size)}
}

// TestHeldBytesStayWithinBudget is the memory attack in small: batches
// whose first URL hangs while the rest bring large bodies. Without a
// budget each would hold Window-1 bodies (24 MiB in all); with one, the
// stage holds at most the budget plus what the requests in flight bring
// and one head result per batch, and every batch ends once the heads
// answer.
func TestHeldBytesStayWithinBudget(t *testing.T) {
	const (
		concurrency = 8
		body        = 64 << 10
		budget      = 1 << 20
		batches     = 6 // fewer than the slots, so that their hanging heads leave some
	)
	fetcher := &sizedFetcher{size: body, release: make(chan struct{})}
	run := startFetch(t, t.Context(), fetcher, FetchConfig{Concurrency: concurrency, Reserve: 1, Window: 64,
		MaxActive: batches, MaxHeldBytes: budget})
	var jobs []*stages.Job
	for b := range batches {
		urls := []string{"http://slow.example/hang"}
		for i := range 99 {
			urls = append(urls, fmt.Sprintf("http://big%d.example/%d", b, i))
		}
		j := job(fmt.Sprint("b", b), time.Minute, urls...)
		jobs = append(jobs, j)
		run.stage.In() <- j
	}
	// Every head hangs: the stage fills to its budget and stops there.
	waitFor(t, "the budget to be reached", func() bool { return run.stage.Held().Now > budget })
	time.Sleep(50 * time.Millisecond)
	if n := fetcher.started.Load(); n > batches+budget/body+2*concurrency {
		t.Errorf("%d requests started while every head hangs, want no more than the budget holds and the slots", n)
	}
	close(fetcher.release)
	checkOrdered(t, run.finish(t), jobs...)
	maxResult := int64(body + len("http://big0.example/00") + resultOverhead)
	if peak := run.stage.Held().Peak; peak > budget+(concurrency+batches)*maxResult {
		t.Errorf("held %d bytes at most, over the budget %d + (%d in flight + %d heads) × %d",
			peak, budget, concurrency, batches, maxResult)
	}
	if now := run.stage.Held().Now; now != 0 {
		t.Errorf("%d bytes still counted as held once every batch is done", now)
	}
}

// TestHeldBudgetHeadOnlyEndsEveryBatch: with a budget always exceeded,
// every batch still ends, in order, starting only its head each time,
// with and without per-host gates.
func TestHeldBudgetHeadOnlyEndsEveryBatch(t *testing.T) {
	for _, cfg := range []FetchConfig{
		{Concurrency: 4, Reserve: 1, Window: 16, MaxActive: 6, MaxHeldBytes: 1},
		{Concurrency: 4, Window: 16, MaxActive: 6, MaxHeldBytes: 1, PerHost: 1},
	} {
		fetcher := &sizedFetcher{size: 100, jitter: true, release: make(chan struct{})}
		run := startFetch(t, t.Context(), fetcher, cfg)
		var jobs []*stages.Job
		for b := range 10 {
			urls := make([]string, 25)
			for i := range urls {
				urls[i] = fmt.Sprintf("http://h%d.example/%d/%d", i%3, b, i)
			}
			j := job(fmt.Sprint("b", b), time.Minute, urls...)
			jobs = append(jobs, j)
			run.stage.In() <- j
		}
		checkOrdered(t, run.finish(t), jobs...)
	}
}

// TestHeldBudgetCountsWhatIsHeldElsewhere: bytes a later stage reports
// (a publisher's gathered replies) hold the stage back too, and it goes
// on once they are let go.
func TestHeldBudgetCountsWhatIsHeldElsewhere(t *testing.T) {
	var elsewhere atomic.Int64
	elsewhere.Store(1 << 30)
	fetcher := &sizedFetcher{size: 10, release: make(chan struct{})}
	run := startFetch(t, t.Context(), fetcher, FetchConfig{Concurrency: 4, Window: 16, MaxActive: 2,
		MaxHeldBytes: 1 << 20, HeldElsewhere: elsewhere.Load})
	urls := make([]string, 20)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://h.example/%d", i)
	}
	urls[0] = "http://h.example/hang"
	j := job("b", time.Minute, urls...)
	run.stage.In() <- j
	waitFor(t, "the head to start", func() bool { return fetcher.started.Load() >= 1 })
	time.Sleep(50 * time.Millisecond)
	if n := fetcher.started.Load(); n != 1 {
		t.Errorf("%d requests started while a later stage holds more than the budget, want the head alone", n)
	}
	elsewhere.Store(0)
	close(fetcher.release)
	checkOrdered(t, run.finish(t), j)
}

// Under a long backpressure the batches held back and done since are let
// go: the list of batches to stir stays within twice those in progress.
func TestHeldBudgetForgetsDoneBatches(t *testing.T) {
	h := newHeldBudget(FetchConfig{MaxHeldBytes: 1})
	h.add(2)
	for i := range 1000 {
		b := newBatchState(&stages.Job{ID: fmt.Sprint(i), Requests: wire.URLs("http://a/", "http://b/")}, 4)
		if h.allows(b, 1) {
			t.Fatal("a start beyond the head allowed over the budget")
		}
		b.queued = 2 // done
	}
	if n := len(h.stalled); n > minPrune {
		t.Errorf("%d batches held for stirring, all of them done", n)
	}
}
