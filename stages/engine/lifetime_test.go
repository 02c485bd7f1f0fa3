package engine

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
	"github.com/fetchstream/fetchstream/wire"
)

// endedByLifetime reports whether r ended as timeout with the lifetime's
// message saying when.
func endedByLifetime(r wire.Result, when string) bool {
	return r.Error == wire.ErrTimeout && strings.Contains(r.Message, stages.LifetimeFlag) && strings.Contains(r.Message, when)
}

// A batch at a slow legal pace (one request per 10s to its host) ends at
// its lifetime: the URLs its pace still holds end as timeout without a
// request, the URL to another host after them keeps its result, all in
// order, with the summary after them.
func TestLifetimeEndsABatchHeldByItsPace(t *testing.T) {
	paced, other := fetchtest.NewTarget(t), fetchtest.NewTarget(t)
	run := startFetch(t, t.Context(), loopbackFetcher(t, 4),
		FetchConfig{Concurrency: 4, Window: 8, MaxActive: 4, MaxBatchTime: time.Second})
	j := job("slow", time.Minute, paced.URL("/text"), paced.URL("/text"), paced.URL("/text"), other.URL("/text"))
	j.PerHostRate = 0.1
	run.stage.In() <- j
	waitFor(t, "the batch to end at its lifetime", func() bool { return run.doneCount() == 1 })
	got := run.finish(t)
	dones := checkOrdered(t, got, j)
	rs := resultsOf(got, "slow")
	if !rs[0].OK() || !rs[3].OK() {
		t.Errorf("first URL %q, other host's %q: want both ok", rs[0].Error, rs[3].Error)
	}
	for _, r := range rs[1:3] {
		if !endedByLifetime(r, "before this URL started") || r.Attempts != 0 {
			t.Errorf("held URL: %q after %d attempts (%s); want timeout without a request, naming %s", r.Error, r.Attempts, r.Message, stages.LifetimeFlag)
		}
	}
	if n := len(paced.Hits("/text")); n != 1 {
		t.Errorf("%d requests to the paced host, want 1", n)
	}
	if s := dones["slow"].Summary; s.OK != 2 || s.Failed != 2 || s.Errors[wire.ErrTimeout] != 2 {
		t.Errorf("summary %+v, want 2 ok and 2 timeout", s)
	}
}

// Requests in flight when the lifetime runs out are canceled then, long
// before their own timeout, and say it was the batch's lifetime; a URL
// the batch's own cap kept from starting ends without a request.
func TestLifetimeCancelsRequestsInFlight(t *testing.T) {
	target := fetchtest.NewTarget(t)
	run := startFetch(t, t.Context(), loopbackFetcher(t, 4),
		FetchConfig{Concurrency: 4, Window: 8, MaxActive: 4, MaxBatchTime: time.Second})
	j := job("hang", time.Minute, target.URL("/hang"), target.URL("/hang"), target.URL("/text"))
	j.Concurrency = 2
	run.stage.In() <- j
	waitFor(t, "the batch to end at its lifetime", func() bool { return run.doneCount() == 1 })
	got := run.finish(t)
	checkOrdered(t, got, j)
	rs := resultsOf(got, "hang")
	for _, r := range rs[:2] {
		if !endedByLifetime(r, "before this URL finished") || r.Attempts != 1 || r.ElapsedMS > 30000 {
			t.Errorf("hanging URL: %q after %d attempts, %vms (%s); want timeout by the lifetime", r.Error, r.Attempts, r.ElapsedMS, r.Message)
		}
	}
	if r := rs[2]; !endedByLifetime(r, "before this URL started") || r.Attempts != 0 {
		t.Errorf("URL kept back by the batch's cap: %q after %d attempts (%s)", r.Error, r.Attempts, r.Message)
	}
	waitFor(t, "the hanging requests to be gone", func() bool { return target.InFlight() == 0 })
	if n := len(target.Hits("/text")); n != 0 {
		t.Errorf("%d requests for the URL that never started", n)
	}
}

// A retry handed back to wait for its host's pause (a 503 asking for 20s)
// ends with the batch's lifetime, saying what its attempt ended as, and
// is not sent again.
func TestLifetimeEndsARetryWaitingForItsHost(t *testing.T) {
	h := fetchtest.NewHostile(t)
	f, err := httpfetch.New(httpfetch.Config{Concurrency: 2, MaxBody: 1 << 20, MaxRedirects: 5, Retries: 2,
		RetryBase: time.Millisecond, RetryMax: time.Millisecond, Policy: httpfetch.Policy{AllowPrivate: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	obs := &deferrals{}
	run := startFetch(t, t.Context(), f, FetchConfig{Concurrency: 2, Window: 8, MaxActive: 4, MaxHostPause: time.Minute,
		Observer: obs, MaxBatchTime: 1500 * time.Millisecond})
	j := job("j", 30*time.Second, h.URL("/flaky?key=k&fail=9&status=503&retry_after=20"))
	run.stage.In() <- j
	waitFor(t, "the batch to end at its lifetime", func() bool { return run.doneCount() == 1 })
	got := run.finish(t)
	checkOrdered(t, got, j)
	if obs.n.Load() != 1 {
		t.Errorf("%d retries handed back, want 1: the test did not exercise a waiting retry", obs.n.Load())
	}
	r := resultsOf(got, "j")[0]
	if !endedByLifetime(r, "while this URL waited to retry (attempt 1 ended as status 503)") || r.Attempts != 1 {
		t.Errorf("result %q after %d attempts: %s; want timeout by the lifetime after 1, naming the 503", r.Error, r.Attempts, r.Message)
	}
	if n := h.FlakyCount("k"); n != 1 {
		t.Errorf("%d requests, want the 503 alone", n)
	}
}

// Twice MaxActive batches, each parked on its own slow pace to one host
// after its first request, do not keep a batch to another host out: it is
// admitted and fetched at once. Before, the MaxActive-th parked batch
// closed admission until one of them ended. The bound on batches admitted
// in all still holds: one more parked batch than MaxActive+MaxWaiting
// waits outside.
func TestParkedBatchesDoNotKeepOthersOut(t *testing.T) {
	paced, other := fetchtest.NewTarget(t), fetchtest.NewTarget(t)
	const maxActive, maxWaiting = 4, 8
	ctx, cancel := context.WithCancel(t.Context())
	var told atomic.Int64 // what OnWaiting last heard
	run := startFetch(t, ctx, loopbackFetcher(t, 4), FetchConfig{Concurrency: 4, Window: 8, MaxActive: maxActive,
		MaxWaiting: maxWaiting, OnWaiting: func(n int) { told.Store(int64(n)) }})
	send := func(j *stages.Job) bool {
		select {
		case run.stage.In() <- j:
			return true
		case <-time.After(10 * time.Second):
			return false
		}
	}
	var jobs []*stages.Job
	for i := range 2 * maxActive {
		j := job("parked"+string(rune('a'+i)), time.Minute, paced.URL("/text"), paced.URL("/text"))
		j.PerHostRate = 0.01 // one request per 100s for each batch
		if !send(j) {
			t.Fatalf("parked batch %d of %d not admitted: the batches waiting for their host keep it out", i+1, 2*maxActive)
		}
		jobs = append(jobs, j)
	}
	waitFor(t, "each parked batch's first request", func() bool { return len(paced.Hits("/text")) == 2*maxActive })
	waitFor(t, "OnWaiting told of every parked batch", func() bool { return told.Load() == 2*maxActive })
	quick := job("quick", time.Minute, other.URL("/text"))
	if !send(quick) {
		t.Fatal("a batch to another host was kept out by batches that only wait for their host")
	}
	waitFor(t, "the other host's batch", func() bool { return run.doneCount() == 1 })

	for i := 2 * maxActive; i < maxActive+maxWaiting; i++ {
		j := job("more"+string(rune('a'+i)), time.Minute, paced.URL("/text"), paced.URL("/text"))
		j.PerHostRate = 0.01
		if !send(j) {
			t.Fatalf("parked batch %d not admitted, below MaxActive+MaxWaiting", i+1)
		}
		jobs = append(jobs, j)
	}
	waitFor(t, "every parked batch's first request", func() bool { return len(paced.Hits("/text")) == maxActive+maxWaiting })
	select {
	case run.stage.In() <- job("over", time.Minute, other.URL("/text")):
		t.Error("a batch admitted beyond MaxActive+MaxWaiting")
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	got := run.finish(t)
	checkOrdered(t, got, append(jobs, quick)...)
}

// The dispatcher's one timer is set for the earliest of the gate timers
// and the batches' deadlines, and a batch leaving takes its deadline
// with it.
func TestNextWakeIsTheEarliestDeadline(t *testing.T) {
	s := newScheduler(FetchConfig{Concurrency: 4, Window: 8, MaxActive: 4, MaxBatchTime: time.Minute}, nil)
	t0 := time.Now()
	late := newBatchState(&stages.Job{ID: "late", Flow: "late", Requests: wire.URLs("http://a/"), Start: t0}, 8)
	early := newBatchState(&stages.Job{ID: "early", Flow: "early", Requests: wire.URLs("http://a/"), Start: t0.Add(-30 * time.Second)}, 8)
	s.add(late)
	s.add(early)
	if at := s.nextWake(); !at.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("next wake in %s, want the earlier batch's deadline, in 30s", at.Sub(t0))
	}
	g := &gate{key: "g"}
	s.polite.(*hosts).timers.arm(g, t0.Add(10*time.Second))
	if at := s.nextWake(); !at.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("next wake in %s, want the gate's timer, in 10s", at.Sub(t0))
	}
	s.polite.wakeDue(t0.Add(10 * time.Second))
	s.remove(early)
	s.remove(early) // a second remove (an expired batch's last result) changes nothing
	if at := s.nextWake(); !at.Equal(t0.Add(time.Minute)) {
		t.Errorf("next wake in %s, want the remaining batch's deadline, in 1m", at.Sub(t0))
	}
	s.remove(late)
	if at := s.nextWake(); !at.IsZero() {
		t.Errorf("next wake in %s with no batch and no gate", at.Sub(t0))
	}
}

// A batch with many more URLs held than its window ends them all at its
// lifetime, the window letting them end as its results move on, in order.
func TestLifetimeEndsMoreURLsThanTheWindow(t *testing.T) {
	paced := fetchtest.NewTarget(t)
	run := startFetch(t, t.Context(), loopbackFetcher(t, 4),
		FetchConfig{Concurrency: 4, Window: 2, MaxActive: 4, MaxBatchTime: 500 * time.Millisecond})
	j := job("long", time.Minute, urlsOf(paced, "/text", 50)...)
	j.PerHostRate = 0.1
	run.stage.In() <- j
	waitFor(t, "the batch to end at its lifetime", func() bool { return run.doneCount() == 1 })
	got := run.finish(t)
	dones := checkOrdered(t, got, j)
	if s := dones["long"].Summary; s.OK != 1 || s.Errors[wire.ErrTimeout] != 49 {
		t.Errorf("summary %+v, want 1 ok and 49 ended by the lifetime", s)
	}
	for _, r := range resultsOf(got, "long")[1:] {
		if !endedByLifetime(r, "before this URL started") {
			t.Fatalf("held URL: %q %s", r.Error, r.Message)
		}
	}
}
