package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

func TestDefaultReserve(t *testing.T) {
	for concurrency, want := range map[int]int{1: 0, 2: 1, 8: 1, 63: 1, 64: 1, 128: 2, 1000: 15} {
		if got := DefaultReserve(concurrency); got != want {
			t.Errorf("DefaultReserve(%d) = %d, want %d", concurrency, got, want)
		}
	}
}

// TestReserveKeepsSlotsForOtherFlows: one flow (two batches sharing a
// correlation id) gets at most Concurrency-Reserve slots; the last ones go
// one per flow with nothing in flight.
func TestReserveKeepsSlotsForOtherFlows(t *testing.T) {
	s := newScheduler(FetchConfig{Concurrency: 8, Reserve: 2}, nil)
	now := time.Now()
	a1 := newBatchState(&stages.Job{ID: "a-1", Flow: "a", Requests: loadRequests[:100]}, 256)
	a2 := newBatchState(&stages.Job{ID: "a-2", Flow: "a", Requests: loadRequests[:100]}, 256)
	s.add(a1)
	s.add(a2)
	var running []grant
	for {
		g, ok := s.next(now)
		if !ok {
			break
		}
		running = append(running, g)
	}
	if len(running) != 6 {
		t.Fatalf("one flow got %d of 8 slots, want 8-2", len(running))
	}
	b := newBatchState(&stages.Job{ID: "b", Flow: "b", Requests: loadRequests[:100]}, 256)
	c := newBatchState(&stages.Job{ID: "c", Flow: "c", Requests: loadRequests[:1]}, 256)
	s.add(b)
	s.add(c)
	for _, want := range []*batchState{b, c} {
		g, ok := s.next(now)
		if !ok || g.batch.flow != want.flow {
			t.Fatalf("a reserve slot was not granted to flow %s (ok %v)", want.job.Flow, ok)
		}
		running = append(running, g)
	}
	// One of flow a's ending leaves 7 in flight: the slot is a reserve
	// one, for a flow with nothing in flight, which a, b and c are not.
	finishGrant(s, running[0], now)
	if g, ok := s.next(now); ok {
		t.Fatalf("a reserve slot went to flow %s, which has requests in flight", g.batch.job.Flow)
	}
	d := newBatchState(&stages.Job{ID: "d", Flow: "d", Requests: loadRequests[:5]}, 256)
	s.add(d)
	if g, ok := s.next(now); !ok || g.batch != d {
		t.Fatalf("the reserve slot was not granted to flow d (ok %v)", ok)
	}
	// Below the line again, a flow with requests in flight may have it.
	for _, g := range running[1:4] {
		finishGrant(s, g, now)
	}
	if g, ok := s.next(now); !ok || g.batch.flow != a1.flow && g.batch != b {
		t.Fatalf("a slot below the line was not granted to flow a or b (ok %v)", ok)
	}
}

// TestReserveBoundsEveryFlowUnderRandomLoad: whatever the order of grants
// and completions, no flow has more than Concurrency-Reserve in flight, and
// a flow with nothing in flight is granted whenever a slot is free.
func TestReserveBoundsEveryFlowUnderRandomLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, cfg := range []FetchConfig{
		{Concurrency: 8, Reserve: 1},
		{Concurrency: 16, Reserve: 2, PerHost: 3},
		{Concurrency: 5, Reserve: 4},
	} {
		s := newScheduler(cfg, nil)
		now := time.Now()
		for i := range 12 {
			s.add(newBatchState(&stages.Job{ID: fmt.Sprint(i), Flow: fmt.Sprint(i % 5), Requests: loadRequests[:20+i]}, 16))
		}
		var running []grant
		perFlow := map[*flowState]int{}
		for step := 0; len(s.flows) > 0; step++ {
			if step > 100000 {
				t.Fatal("the load did not end")
			}
			if len(running) < cfg.Concurrency && rng.IntN(3) > 0 {
				g, ok := s.next(now)
				if ok {
					running = append(running, g)
					perFlow[g.batch.flow]++
					if n := perFlow[g.batch.flow]; n > cfg.Concurrency-cfg.Reserve {
						t.Fatalf("%+v: flow %s has %d in flight", cfg, g.batch.flow.key, n)
					}
					continue
				}
				for _, f := range s.flows {
					if perFlow[f] == 0 && f.batches[0].hasUnstarted() && cfg.PerHost == 0 {
						t.Fatalf("%+v: flow %s has nothing in flight and was not granted a free slot", cfg, f.key)
					}
				}
			}
			if len(running) == 0 {
				continue
			}
			k := rng.IntN(len(running))
			g := running[k]
			running = append(running[:k], running[k+1:]...)
			perFlow[g.batch.flow]--
			finishGrant(s, g, now)
		}
	}
}

// TestReserveStartsAnotherBatchWhileOneHoldsSlowRequests: a batch of
// requests that never answer holds Concurrency-Reserve slots, no more, and
// a one-URL batch sent meanwhile is answered without waiting for them.
func TestReserveStartsAnotherBatchWhileOneHoldsSlowRequests(t *testing.T) {
	target := fetchtest.NewTarget(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	run := startFetch(t, ctx, loopbackFetcher(t, 4), FetchConfig{Concurrency: 4, Reserve: 1, Window: 64, MaxActive: 8})
	hang := make([]string, 40)
	for i := range hang {
		hang[i] = target.URL("/hang")
	}
	run.stage.In() <- job("slow", time.Minute, hang...)
	waitFor(t, "the slow batch to hold its slots", func() bool { return target.InFlight() == 3 })
	run.stage.In() <- job("small", time.Minute, target.URL("/delay/0"))
	waitFor(t, "the small batch's summary", func() bool { return run.doneCount() == 1 })
	if n := target.MaxInFlight(); n != 4 {
		t.Errorf("at most %d requests in flight, want 3 slow and the small one", n)
	}
	cancel()
	dones := checkOrdered(t, run.finish(t), job("slow", 0, hang...), job("small", 0))
	if d := dones["small"]; d.Summary.OK != 1 {
		t.Errorf("small batch: %+v", d.Summary)
	}
	if d := dones["slow"]; d.Summary.Errors[wire.ErrCanceled] != len(hang) {
		t.Errorf("slow batch: %+v", d.Summary)
	}
}
