package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
	"github.com/fetchstream/fetchstream/wire"
)

// loopbackFetcher is a real Fetcher allowed to reach loopback targets.
func loopbackFetcher(t testing.TB, concurrency int) *httpfetch.Fetcher {
	t.Helper()
	f, err := httpfetch.New(httpfetch.Config{Concurrency: concurrency, MaxBody: 1 << 20, MaxRedirects: 5,
		Policy: httpfetch.Policy{AllowPrivate: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// startFetch runs a Fetch stage and collects everything it emits.
type fetchRun struct {
	stage *Fetch
	mu    sync.Mutex
	got   []any
	done  chan struct{}
}

func startFetch(t *testing.T, ctx context.Context, fetcher URLFetcher, cfg FetchConfig) *fetchRun {
	t.Helper()
	stage, err := NewFetch(ctx, fetcher, cfg)
	if err != nil {
		t.Fatal(err)
	}
	run := &fetchRun{stage: stage, done: make(chan struct{})}
	go func() {
		defer close(run.done)
		for element := range stage.Out() {
			run.mu.Lock()
			run.got = append(run.got, element)
			run.mu.Unlock()
		}
	}()
	return run
}

// finish closes the input and waits for the output to close.
func (r *fetchRun) finish(t *testing.T) []any {
	t.Helper()
	close(r.stage.In())
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("fetch stage did not close its output")
	}
	return r.got
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// resultCount is how many results of job id the stage has sent so far.
func (r *fetchRun) resultCount(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(resultsOf(r.got, id))
}

func (r *fetchRun) doneCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.got {
		if _, ok := e.(*stages.Done); ok {
			n++
		}
	}
	return n
}

func job(id string, timeout time.Duration, urls ...string) *stages.Job {
	return &stages.Job{ID: id, Flow: id, Requests: wire.URLs(urls...), Timeout: timeout, Start: time.Now()}
}

// checkOrdered asserts that each job's results come in index order, all
// of them, followed by its Done, whose summary holds its id and count and
// no counts by kind (the publisher's), and returns each job's Done with
// the summary counted from its results (see seenBatch).
func checkOrdered(t *testing.T, got []any, jobs ...*stages.Job) map[string]seenBatch {
	t.Helper()
	next := map[string]int{}
	counted := map[string]*wire.Summary{}
	dones := map[string]seenBatch{}
	for _, e := range got {
		switch e := e.(type) {
		case *stages.Fetched:
			r := e.Result
			if r.Index != next[r.BatchID] || r.Count != len(e.Job.Requests) || r.URL != e.Job.Requests[r.Index].URL {
				t.Fatalf("batch %s: got index %d (%s), want %d", r.BatchID, r.Index, r.URL, next[r.BatchID])
			}
			next[r.BatchID]++
			if counted[r.BatchID] == nil {
				counted[r.BatchID] = &wire.Summary{}
			}
			countResult(counted[r.BatchID], r.Error)
		case *stages.Done:
			if next[e.Job.ID] != len(e.Job.Requests) {
				t.Fatalf("batch %s: stages.Done after %d of %d results", e.Job.ID, next[e.Job.ID], len(e.Job.Requests))
			}
			if s := e.Summary; s.OK != 0 || s.Failed != 0 || s.Errors != nil {
				t.Errorf("batch %s: the engine counted its summary %+v: the counts by kind are the publisher's", e.Job.ID, s)
			}
			if s := e.Summary; s.BatchID != e.Job.ID || s.Count != len(e.Job.Requests) {
				t.Errorf("batch %s: summary %+v, want its id and count %d", e.Job.ID, s, len(e.Job.Requests))
			}
			seen := seenBatch{Done: e, Summary: e.Summary}
			if c := counted[e.Job.ID]; c != nil {
				seen.Summary.OK, seen.Summary.Failed, seen.Summary.Errors = c.OK, c.Failed, c.Errors
			}
			dones[e.Job.ID] = seen
		}
	}
	for _, j := range jobs {
		if dones[j.ID].Done == nil {
			t.Fatalf("batch %s: no stages.Done", j.ID)
		}
	}
	return dones
}

// seenBatch is a batch as checkOrdered read it: its Done, and its Summary
// with the counts by kind counted from the results read, as the
// publisher counts them.
type seenBatch struct {
	Done    *stages.Done
	Summary wire.Summary
}

// countResult counts one result of kind into s ("" is a success).
func countResult(s *wire.Summary, kind wire.ErrorKind) {
	if kind == "" {
		s.OK++
		return
	}
	s.Failed++
	if s.Errors == nil {
		s.Errors = map[wire.ErrorKind]int{}
	}
	s.Errors[kind]++
}

func TestFetchKeepsOrderUnderRandomDelays(t *testing.T) {
	target := fetchtest.NewTarget(t)
	const concurrency = 16
	run := startFetch(t, t.Context(), loopbackFetcher(t, concurrency),
		FetchConfig{Concurrency: concurrency, Window: 8, MaxActive: 64})
	rng := rand.New(rand.NewPCG(1, 2))
	var jobs []*stages.Job
	for b := range 20 {
		urls := make([]string, 30)
		for i := range urls {
			urls[i] = target.URL(fmt.Sprintf("/delay/%d", rng.IntN(40)))
		}
		j := job(fmt.Sprintf("b%d", b), 10*time.Second, urls...)
		jobs = append(jobs, j)
		run.stage.In() <- j
	}
	dones := checkOrdered(t, run.finish(t), jobs...)
	for id, d := range dones {
		if d.Summary.OK != 30 || d.Summary.Failed != 0 {
			t.Errorf("batch %s summary %+v", id, d.Summary)
		}
	}
	if got := target.MaxInFlight(); got > concurrency {
		t.Errorf("target saw %d in flight, over the cap of %d", got, concurrency)
	}
}

// A held first URL lets at most Window URLs of its batch start, and
// holds back only its own batch.
func TestFetchWindowBoundsWhatASlowURLHoldsBack(t *testing.T) {
	target := fetchtest.NewTarget(t)
	const window = 8
	run := startFetch(t, t.Context(), loopbackFetcher(t, 32), FetchConfig{Concurrency: 32, Window: window, MaxActive: 8})
	urls := []string{target.URL("/gate/first")}
	for range 99 {
		urls = append(urls, target.URL("/text"))
	}
	slow := job("slow", time.Minute, urls...)
	run.stage.In() <- slow
	waitFor(t, "the window to fill", func() bool { return target.Requests() >= window })
	fast := job("fast", time.Minute, target.URL("/text"), target.URL("/delay/5"))
	run.stage.In() <- fast
	waitFor(t, "the fast batch", func() bool { return run.doneCount() == 1 })
	if got := target.Requests(); got != window+2 {
		t.Errorf("%d requests while the first URL is held, want the window (%d) plus the fast batch's 2", got, window)
	}
	target.Open("first")
	got := run.finish(t)
	dones := checkOrdered(t, got, slow, fast)
	if s := dones["slow"].Summary; s.OK != 100 {
		t.Errorf("slow batch summary %+v, want 100 ok", s)
	}
	if _, first := got[0].(*stages.Fetched); !first || got[0].(*stages.Fetched).Job != fast {
		t.Errorf("first element out was %+v, want the fast batch's first result", got[0])
	}
}

// Canceling the stage's context ends requests in flight and URLs not yet
// started as canceled results; every result is still emitted.
func TestFetchCancelEndsInCanceledResults(t *testing.T) {
	target := fetchtest.NewTarget(t)
	ctx, cancel := context.WithCancel(t.Context())
	run := startFetch(t, ctx, loopbackFetcher(t, 2), FetchConfig{Concurrency: 2, Window: 4, MaxActive: 4})
	j := job("j", time.Minute, target.URL("/text"), target.URL("/hang"), target.URL("/hang"), target.URL("/hang"), target.URL("/text"))
	run.stage.In() <- j
	// A third request starts only once the first URL is done: with two
	// slots, two hanging ones then hold both.
	waitFor(t, "the first URL done and two hanging", func() bool { return target.Requests() == 3 && target.InFlight() == 2 })
	cancel()
	dones := checkOrdered(t, run.finish(t), j)
	if s := dones["j"].Summary; s.OK != 1 || s.Errors[wire.ErrCanceled] != 4 {
		t.Errorf("summary %+v, want 1 ok and 4 canceled", s)
	}
}

func TestFetchPassesRejectedJobs(t *testing.T) {
	run := startFetch(t, t.Context(), loopbackFetcher(t, 1), FetchConfig{Concurrency: 1, Window: 1, MaxActive: 1})
	bad := &stages.Job{ID: "bad", Start: time.Now(), Err: &stages.BatchError{Kind: wire.ErrBatchTooLarge, Message: "too many", Count: 7}}
	run.stage.In() <- bad
	got := run.finish(t)
	if len(got) != 1 {
		t.Fatalf("got %d elements, want one stages.Done", len(got))
	}
	d := got[0].(*stages.Done)
	if d.Summary.Error != wire.ErrBatchTooLarge || d.Summary.Count != 7 || d.Summary.Message != "too many" {
		t.Errorf("summary %+v", d.Summary)
	}
}

func TestFetchConfigValidation(t *testing.T) {
	for _, cfg := range []FetchConfig{
		{Concurrency: 0, Window: 1, MaxActive: 1},
		{Concurrency: 1, Window: 0, MaxActive: 1},
		{Concurrency: 1, Window: 1, MaxActive: 0},
		{Concurrency: 1, Window: 1, MaxActive: 1, PerHost: -1},
	} {
		if _, err := NewFetch(t.Context(), nil, cfg); err == nil {
			t.Errorf("NewFetch(%+v) accepted a bad config", cfg)
		}
	}
	// Robots with a fetcher that cannot fetch robots.txt: a ConfigError
	// naming Robots, as the other checks name their fields.
	_, err := NewFetch(t.Context(), panickyFetcher{}, FetchConfig{Concurrency: 1, Window: 1, MaxActive: 1, Robots: true})
	var ce *wire.ConfigError
	if !errors.As(err, &ce) || ce.Field != "Robots" || !errors.Is(err, ErrConfig) {
		t.Errorf("Robots without a RobotsFetcher: %v, want a *wire.ConfigError naming Robots, wrapping ErrConfig", err)
	}
}
