package stages

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

func urlsOf(target *fetchtest.Target, path string, n int) []string {
	urls := make([]string, n)
	for i := range urls {
		urls[i] = target.URL(path)
	}
	return urls
}

// position returns the index in got of the Done of job id, and how many
// results of other jobs came out before it.
func position(got []any, id string) (donePos, othersBefore int) {
	for i, e := range got {
		switch e := e.(type) {
		case *Fetched:
			if e.Job.ID != id {
				othersBefore++
			}
		case *Done:
			if e.Job.ID == id {
				return i, othersBefore
			}
		}
	}
	return -1, othersBefore
}

// A small batch arriving behind a big one gets slots at the next
// turnovers, not after every URL of the big one has started.
func TestSchedulerSmallBatchNotStuckBehindBigOne(t *testing.T) {
	target := fetchtest.NewTarget(t)
	const concurrency = 4
	run := startFetch(t, t.Context(), loopbackFetcher(t, concurrency),
		FetchConfig{Concurrency: concurrency, Window: 256, MaxActive: 8})
	big := job("big", 10*time.Second, urlsOf(target, "/gate/go", 200)...)
	run.stage.In() <- big
	waitFor(t, "the big batch to fill the slots", func() bool { return target.InFlight() == concurrency })
	small := job("small", 10*time.Second, urlsOf(target, "/gate/go", 3)...)
	run.stage.In() <- small // admitted before the next grant: In is unbuffered
	target.Open("go")
	got := run.finish(t)
	checkOrdered(t, got, big, small)
	// Round-robin: the small batch's 3 URLs start within the next ~6
	// grants, so only a handful of big results can come out before its
	// Done; first come, first served would let ~190 through.
	if _, before := position(got, "small"); before > 8*concurrency {
		t.Errorf("%d results of the big batch came out before the small batch was done", before)
	}
}

// A higher priority takes a larger share, and a lower one still gets its
// share: it is slowed, not starved.
func TestSchedulerPriorityWeighsShares(t *testing.T) {
	target := fetchtest.NewTarget(t)
	run := startFetch(t, t.Context(), loopbackFetcher(t, 1), FetchConfig{Concurrency: 1, Window: 256, MaxActive: 8})
	low := job("low", 10*time.Second, urlsOf(target, "/gate/go", 10)...)
	run.stage.In() <- low
	waitFor(t, "the low batch to start", func() bool { return target.InFlight() == 1 })
	high := job("high", 10*time.Second, urlsOf(target, "/gate/go", 10)...)
	high.Priority = 5 // 32 times the share of priority 0
	hog := job("hog", 10*time.Second, urlsOf(target, "/gate/go", 200)...)
	hog.Priority = 3 // 8 times the share of priority 0
	run.stage.In() <- high
	run.stage.In() <- hog
	target.Open("go") // from here each grant is the scheduler's choice alone
	got := run.finish(t)
	checkOrdered(t, got, low, high, hog)
	highDone, _ := position(got, "high")
	lowDone, _ := position(got, "low")
	hogDone, _ := position(got, "hog")
	lowBeforeHigh := 0
	for _, e := range got[:highDone] {
		if f, ok := e.(*Fetched); ok && f.Job == low {
			lowBeforeHigh++
		}
	}
	if lowBeforeHigh > 3 {
		t.Errorf("%d low-priority results came out before the priority-5 batch was done", lowBeforeHigh)
	}
	if lowDone > hogDone {
		t.Errorf("the priority-0 batch (10 URLs) finished after the priority-3 one (200 URLs): starved, not slowed")
	}
}

// Batches that share a correlation id share one flow's slots, in order.
func TestSchedulerCorrelatedBatchesShareOneFlow(t *testing.T) {
	target := fetchtest.NewTarget(t)
	const concurrency = 4
	run := startFetch(t, t.Context(), loopbackFetcher(t, concurrency),
		FetchConfig{Concurrency: concurrency, Window: 256, MaxActive: 64})
	var parts []*Job
	for i := range 20 {
		// The first part is held at a gate until the small batch is in.
		// The rest take 40ms a URL: a part needs three rounds of its flow's
		// slots, so it cannot finish before the part started ahead of it
		// unless something serves the flow out of order.
		path := "/delay/40"
		if i == 0 {
			path = "/gate/go"
		}
		part := job(fmt.Sprintf("crawl-%d", i), 10*time.Second, urlsOf(target, path, 10)...)
		part.Flow, part.CorrelationID = "crawl", "crawl"
		parts = append(parts, part)
		run.stage.In() <- part
	}
	waitFor(t, "the crawl to fill the slots", func() bool { return target.InFlight() == concurrency })
	small := job("small", 10*time.Second, urlsOf(target, "/delay/40", 3)...)
	run.stage.In() <- small
	target.Open("go")
	got := run.finish(t)
	checkOrdered(t, got, append(parts, small)...)
	// As one flow the crawl takes turns with the small batch; as 20 flows
	// it would take 20 turns to the small batch's one.
	if _, before := position(got, "small"); before > 8*concurrency {
		t.Errorf("%d crawl results came out before the small batch was done", before)
	}
	for i := 1; i < len(parts); i++ {
		prev, _ := position(got, parts[i-1].ID)
		this, _ := position(got, parts[i].ID)
		if this < prev {
			t.Errorf("part %d finished before part %d: a flow serves its batches in order", i, i-1)
		}
	}
}

// A batch's own concurrency caps it below the global cap.
func TestSchedulerBatchConcurrency(t *testing.T) {
	target := fetchtest.NewTarget(t)
	run := startFetch(t, t.Context(), loopbackFetcher(t, 8), FetchConfig{Concurrency: 8, Window: 64, MaxActive: 4})
	j := job("capped", 10*time.Second, urlsOf(target, "/delay/10", 20)...)
	j.Concurrency = 2
	run.stage.In() <- j
	checkOrdered(t, run.finish(t), j)
	if got := target.MaxInFlight(); got != 2 {
		t.Errorf("target saw %d in flight, want the batch's cap of 2", got)
	}
}

// The per-host cap holds one host back without holding back the batch's
// other hosts, or taking global slots from them.
func TestSchedulerPerHostCapSkipsToOtherHosts(t *testing.T) {
	slowHost, fastHost := fetchtest.NewTarget(t), fetchtest.NewTarget(t)
	run := startFetch(t, t.Context(), loopbackFetcher(t, 8), FetchConfig{Concurrency: 8, Window: 64, MaxActive: 4, PerHost: 2})
	var urls []string
	for range 10 {
		urls = append(urls, slowHost.URL("/gate/slow"), fastHost.URL("/text"))
	}
	j := job("mixed", 10*time.Second, urls...)
	run.stage.In() <- j
	// The slow host's URLs are held at the gate: the fast host's all start
	// anyway, and the slow host never gets more than its cap.
	waitFor(t, "the fast host's URLs, the slow host's cap held", func() bool {
		return fastHost.Requests() == 10 && slowHost.InFlight() >= 2
	})
	if slowRequests := slowHost.Requests(); slowRequests != 2 {
		t.Errorf("slow host had %d requests while two were held, want the cap of 2", slowRequests)
	}
	slowHost.Open("slow")
	checkOrdered(t, run.finish(t), j)
	if got := slowHost.MaxInFlight(); got != 2 {
		t.Errorf("slow host saw %d in flight, want the per-host cap of 2", got)
	}
	if u, _ := url.Parse(slowHost.URL("/")); u.Host == "" {
		t.Fatal("no host")
	}
}

func BenchmarkSchedulerNext(b *testing.B) {
	for _, active := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("active=%d", active), func(b *testing.B) {
			fill := func() *scheduler {
				s := newScheduler(64, 0)
				for i := range active {
					batch := newBatchState(&Job{ID: fmt.Sprint(i), Flow: fmt.Sprint(i), Requests: make([]wire.Request, 1<<16)}, 1<<16, false)
					batch.reach(1<<16 - 1) // grown in advance: the scheduler is measured, not the ring
					s.add(batch)
				}
				return s
			}
			s := fill()
			b.ReportAllocs()
			for b.Loop() {
				batch, _, ok := s.next()
				if !ok {
					s = fill() // every URL started: begin again
					continue
				}
				batch.inFlight--
			}
		})
	}
}
