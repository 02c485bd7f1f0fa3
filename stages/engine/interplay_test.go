package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// Tests of how the batch lifetime, the slot reserve, the held-bytes
// budget and per-host gates work together; each is tested alone beside
// its code.

// A batch that expires with a request in flight still has that request
// counted in its flow until it completes: then the flow has nothing in
// flight, and another batch of the same flow takes the reserve slot.
func TestInterplayExpiredBatchGivesItsFlowBackTheReserve(t *testing.T) {
	target := fetchtest.NewTarget(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	run := startFetch(t, ctx, loopbackFetcher(t, 4), FetchConfig{Concurrency: 2, Reserve: 1, Window: 8, MaxActive: 8,
		MaxBatchTime: 3 * time.Second})
	a := job("a", time.Minute, target.URL("/hang"))
	a.Flow, a.Start = "shared", time.Now().Add(-2700*time.Millisecond) // ends in 0.3s
	run.stage.In() <- a
	waitFor(t, "a in flight", func() bool { return target.InFlight() == 1 })
	hog := job("hog", time.Minute, target.URL("/hang"), target.URL("/hang"))
	run.stage.In() <- hog
	waitFor(t, "hog in flight", func() bool { return target.InFlight() == 2 })
	a2 := job("a2", time.Minute, target.URL("/text"))
	a2.Flow = "shared"
	t0 := time.Now()
	run.stage.In() <- a2
	waitFor(t, "a and a2 done", func() bool { return run.doneCount() == 2 })
	if d := time.Since(t0); d > 1500*time.Millisecond {
		t.Errorf("a2 (one URL, its flow with nothing in flight once a expired at 0.3s) done after %v: kept off the reserve slot", d)
	}
	cancel()
	got := run.finish(t)
	if r := resultsOf(got, "a2")[0]; r.Error != "" {
		t.Errorf("a2's URL: %q %s; want fetched on the reserve slot once a ended", r.Error, r.Message)
	}
}

// While the reserve binds, a gate that opens wakes lanes until room-many
// of them can take it: a lane of a flow with requests in flight (which
// the reserve bars) does not count, so the idle flow's lane parked behind
// it is woken and granted at once, not at the stage's next 2 s tick.
func TestInterplayOpenedGateWakesPastBarredLanes(t *testing.T) {
	s := newScheduler(FetchConfig{Concurrency: 2, Reserve: 1, PerHost: 1}, nil)
	now := time.Now()
	z := newBatchState(&stages.Job{ID: "z", Flow: "z", Requests: wire.URLs("http://y.example/z")}, 8)
	s.add(z)
	gz, ok := s.next(now)
	if !ok || gz.batch != z {
		t.Fatal("z not granted")
	}
	h := newBatchState(&stages.Job{ID: "h", Flow: "h", Requests: wire.URLs("http://y.example/h", "http://x.example/h")}, 8)
	s.add(h)
	if g, ok := s.next(now); !ok || g.batch != h || g.index != 1 {
		t.Fatalf("h's x URL not granted on the reserve slot (ok %v)", ok)
	}
	w := newBatchState(&stages.Job{ID: "w", Flow: "w", Requests: wire.URLs("http://y.example/w")}, 8)
	s.add(w)
	if _, ok := s.next(now); ok {
		t.Fatal("granted beyond Concurrency")
	}
	finishGrant(s, gz, now) // y has room again; 1 in flight (h's), the reserve binds
	g, ok := s.next(now)
	if !ok {
		_, again := s.next(now)
		t.Fatalf("w (flow with nothing in flight, y free, 1 of 2 slots in flight) not granted; a second next grants it: %v", again)
	}
	if g.batch != w {
		t.Fatalf("granted %s", g.batch.job.ID)
	}
}

// The same through the stage: a batch with nothing in flight, parked on a
// host behind a lane of a flow that the reserve bars, starts as soon as
// the host is free.
func TestInterplayReserveOpenedGateWakesTheIdleFlow(t *testing.T) {
	y, x := fetchtest.NewTarget(t), fetchtest.NewTarget(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	run := startFetch(t, ctx, loopbackFetcher(t, 4), FetchConfig{Concurrency: 3, Reserve: 1, PerHost: 1, Window: 8, MaxActive: 8})
	run.stage.In() <- job("z", time.Minute, y.URL("/delay/300"))
	waitFor(t, "z in flight", func() bool { return y.InFlight() == 1 })
	run.stage.In() <- job("h", time.Minute, y.URL("/text"), x.URL("/hang"))
	waitFor(t, "h's hang in flight", func() bool { return x.InFlight() == 1 })
	t0 := time.Now()
	run.stage.In() <- job("w", time.Minute, y.URL("/text")) // parks on y behind h's lane
	time.Sleep(20 * time.Millisecond)
	kx := fetchtest.NewTarget(t)
	run.stage.In() <- job("k", time.Minute, kx.URL("/hang")) // takes the third slot
	waitFor(t, "k in flight", func() bool { return kx.InFlight() == 1 })
	waitFor(t, "z and w done", func() bool { return run.doneCount() == 2 })
	if d := time.Since(t0); d > time.Second {
		t.Errorf("w done %v after it came; z ended at 300ms, leaving w's flow a reserve slot and y free", d)
	}
	cancel()
	run.finish(t)
}

// Every feature on at once, over random batches, flows and hosts: every
// batch ends with its results in order, nothing stays held, and the count
// of waiting batches never goes below 0 and ends at 0.
func TestInterplayStressAllTogether(t *testing.T) {
	for seed := range uint64(6) {
		rng := newRng(seed)
		fetcher := &sizedFetcher{size: 2000, jitter: true, release: make(chan struct{})}
		var minW, lastW atomicInt
		cfg := FetchConfig{Concurrency: 4, Reserve: 1, Window: 8, MaxActive: 3, MaxWaiting: 3, MaxHeldBytes: 20000,
			PerHost: 2, MaxBatchTime: 400 * time.Millisecond,
			OnWaiting: func(n int) { lastW.set(n); minW.min(n) }}
		run := startFetch(t, t.Context(), fetcher, cfg)
		var jobs []*stages.Job
		for b := range 30 {
			n := 1 + rng.IntN(20)
			urls := make([]string, n)
			for i := range urls {
				if rng.IntN(10) == 0 {
					urls[i] = fmt.Sprintf("http://h%d.example/%d/%d/hang", rng.IntN(3), b, i)
				} else {
					urls[i] = fmt.Sprintf("http://h%d.example/%d/%d", rng.IntN(3), b, i)
				}
			}
			j := job(fmt.Sprint("b", b), time.Minute, urls...)
			j.Flow = fmt.Sprint("f", rng.IntN(4))
			if rng.IntN(3) == 0 {
				j.PerHostRate = 20
			}
			jobs = append(jobs, j)
			select {
			case run.stage.In() <- j:
			case <-time.After(10 * time.Second):
				t.Fatalf("seed %d: batch %d not admitted in 10s", seed, b)
			}
		}
		checkOrdered(t, run.finish(t), jobs...)
		if now := run.stage.Held().Now; now != 0 {
			t.Errorf("seed %d: %d bytes held after all", seed, now)
		}
		if minW.get() < 0 || lastW.get() != 0 {
			t.Errorf("seed %d: waiting went to %d, ended at %d", seed, minW.get(), lastW.get())
		}
	}
}

// An expired batch's lane left parked on a gate takes none of the gate's
// wakes: the lane behind it is woken when the gate opens.
func TestInterplayExpiredLaneTakesNoWake(t *testing.T) {
	y, x, kx := fetchtest.NewTarget(t), fetchtest.NewTarget(t), fetchtest.NewTarget(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	run := startFetch(t, ctx, loopbackFetcher(t, 4), FetchConfig{Concurrency: 3, Reserve: 1, PerHost: 1, Window: 8, MaxActive: 8,
		MaxBatchTime: 3 * time.Second})
	run.stage.In() <- job("z", time.Minute, y.URL("/delay/600"))
	waitFor(t, "z in flight", func() bool { return y.InFlight() == 1 })
	d := job("d", time.Minute, y.URL("/text"))
	d.Start = time.Now().Add(-2700 * time.Millisecond) // parks on y, ends at 0.3s
	run.stage.In() <- d
	time.Sleep(20 * time.Millisecond)
	t0 := time.Now()
	run.stage.In() <- job("w", time.Minute, y.URL("/text")) // parks on y behind d's lane
	time.Sleep(20 * time.Millisecond)
	run.stage.In() <- job("h", time.Minute, x.URL("/hang"))
	run.stage.In() <- job("k", time.Minute, kx.URL("/hang"))
	waitFor(t, "h and k in flight", func() bool { return x.InFlight() == 1 && kx.InFlight() == 1 })
	waitFor(t, "z, d and w done", func() bool { return run.doneCount() == 3 })
	if dt := time.Since(t0); dt > 1200*time.Millisecond {
		t.Errorf("w done %v after it came; z ended at 600ms, y free, a reserve slot free", dt)
	}
	cancel()
	run.finish(t)
}

func newRng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 7)) }

// atomicInt is an int the OnWaiting hook sets from the dispatcher while
// the test reads it.
type atomicInt struct {
	mu sync.Mutex
	v  int
}

func (a *atomicInt) set(n int) { a.mu.Lock(); a.v = n; a.mu.Unlock() }
func (a *atomicInt) min(n int) { a.mu.Lock(); a.v = min(a.v, n); a.mu.Unlock() }
func (a *atomicInt) get() int  { a.mu.Lock(); defer a.mu.Unlock(); return a.v }
