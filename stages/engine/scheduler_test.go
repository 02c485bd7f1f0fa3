package engine

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/stages/polite"
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
		case *stages.Fetched:
			if e.Job.ID != id {
				othersBefore++
			}
		case *stages.Done:
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
		if f, ok := e.(*stages.Fetched); ok && f.Job == low {
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
	var parts []*stages.Job
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

// finishedOK is the result finishGrant files: one for all, as the
// scheduler's tests drop every result once it is in order (so that
// BenchmarkSchedulerNext counts the scheduler's allocations alone).
var finishedOK = &stages.Fetched{Result: wire.Result{Status: 200}}

// finishGrant ends g as the fetch stage does when its fetch is done with
// a 200: the scheduler hears of it, the batch completes the index and
// sends what it can, and a batch with nothing left leaves the scheduler.
func finishGrant(s *scheduler, g grant, now time.Time) {
	s.finished(g.batch, g.index, &finishedOK.Result, now)
	g.batch.complete(g.index, finishedOK, func(*stages.Fetched) {})
	for g.batch.sent < g.batch.queued {
		g.batch.markSent()
	}
	if g.batch.allQueued() {
		s.remove(g.batch)
	}
}

// grantLoad drives a scheduler as the fetch stage does, without
// fetches: active batches of 4,096 URLs over 64 hosts that every batch
// shares, windows of 256, 64 requests in flight, each step finishing the
// oldest request when all 64 are out (or when nothing could start) and
// asking for the next grant. With a per-host rate, a fake clock moves
// 50µs a step, so that most hosts are out of tokens most of the time and
// most URLs wait.
type grantLoad struct {
	cfg     FetchConfig
	active  int
	s       *scheduler
	now     time.Time
	running []grant
	grants  int
	work    schedulerWork // of the schedulers before s
	ok      bool
}

const (
	loadHosts    = 64
	loadInFlight = 64
	loadPerBatch = 4096
	loadWindow   = 256
)

var loadRequests = requestsOverHosts(loadPerBatch)

// requestsOverHosts is n requests spread over loadHosts hosts in turn.
func requestsOverHosts(n int) []wire.Request {
	requests := make([]wire.Request, n)
	for i := range requests {
		requests[i].URL = fmt.Sprintf("http://h%d.example/p%d", i%loadHosts, i)
	}
	return requests
}

func newGrantLoad(cfg FetchConfig, active int) *grantLoad {
	l := &grantLoad{cfg: cfg, active: active, now: time.Now(), ok: true}
	l.fill()
	return l
}

// fill starts over with active new batches.
func (l *grantLoad) fill() {
	if l.s != nil {
		l.work = l.work.plus(l.s.work)
	}
	l.s = newScheduler(l.cfg, nil)
	for i := range l.active {
		l.s.add(newBatchState(&stages.Job{ID: fmt.Sprint(i), Flow: fmt.Sprint(i), Requests: loadRequests}, loadWindow))
	}
	l.running = l.running[:0]
}

// steps is the scheduler's work since the load began or was reset.
func (l *grantLoad) steps() schedulerWork { return l.work.plus(l.s.work) }

// reset starts counting grants and steps anew.
func (l *grantLoad) reset() { l.grants, l.work, l.s.work = 0, schedulerWork{}, schedulerWork{} }

// warmUp runs the first 2·active·window grants, in which the batches'
// rings grow to their windows and their first windows are scanned, and
// then resets the counts.
func (l *grantLoad) warmUp() {
	for range 2 * l.active * loadWindow {
		if !l.step() {
			l.fill()
		}
	}
	l.reset()
}

func (w schedulerWork) plus(o schedulerWork) schedulerWork {
	return schedulerWork{looks: w.looks + o.looks, parks: w.parks + o.parks, scans: w.scans + o.scans}
}

// step finishes the oldest request if it must, and asks for a grant. It
// reports false when every URL is done and the load must be filled again.
func (l *grantLoad) step() bool {
	if l.cfg.PerHostRate > 0 {
		l.now = l.now.Add(50 * time.Microsecond)
		l.s.polite.wakeDue(l.now)
	}
	if len(l.running) == loadInFlight || !l.ok && len(l.running) > 0 {
		finishGrant(l.s, l.running[0], l.now)
		l.running = append(l.running[:0], l.running[1:]...)
	}
	var g grant
	if g, l.ok = l.s.next(l.now); l.ok {
		l.grants++
		l.running = append(l.running, g)
		return true
	}
	return len(l.s.flows) > 0
}

// BenchmarkSchedulerNext measures a grant (see grantLoad): plain (no
// gates), and with a per-host cap or a per-host rate on, as batches go
// from 1 to 256. Besides ns/grant it reports the scheduler's steps per
// grant (flows looked at, lanes parked, URLs scanned into lanes), which
// do not depend on the machine and stay flat: no step scans every batch
// or window. ns/grant grows more than the steps do, as the state of 256
// batches outgrows the caches. The first 2·active·window grants (the
// batches' rings growing to their windows) run before the timer starts.
func BenchmarkSchedulerNext(b *testing.B) {
	modes := []struct {
		name string
		cfg  FetchConfig
	}{
		{"plain", FetchConfig{Concurrency: loadInFlight}},
		{"per-host=1", FetchConfig{Concurrency: loadInFlight, PerHost: 1}},
		{"rate=100", FetchConfig{Concurrency: loadInFlight, PerHostRate: 100, PerHostBurst: 1}},
		{"reserve=8", FetchConfig{Concurrency: loadInFlight, Reserve: 8}},
		{"reserve=8,per-host=1", FetchConfig{Concurrency: loadInFlight, Reserve: 8, PerHost: 1}},
	}
	for _, mode := range modes {
		for _, active := range []int{1, 16, 64, 256} {
			b.Run(fmt.Sprintf("%s/active=%d", mode.name, active), func(b *testing.B) {
				l := newGrantLoad(mode.cfg, active)
				l.warmUp()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if !l.step() {
						b.StopTimer()
						l.fill() // every URL done: begin again
						b.StartTimer()
					}
				}
				grants, work := float64(max(l.grants, 1)), l.steps()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/grants, "ns/grant")
				b.ReportMetric(float64(work.looks)/grants, "looks/grant")
				b.ReportMetric(float64(work.parks)/grants, "parks/grant")
				b.ReportMetric(float64(work.scans)/grants, "scans/grant")
			})
		}
	}
}

// BenchmarkSchedulerAdd measures admitting a batch of 10,000 URLs with a
// per-host cap on: its URLs get their lanes as the window reaches them,
// not at admission, so the dispatcher does not stop for the whole batch.
func BenchmarkSchedulerAdd(b *testing.B) {
	requests := requestsOverHosts(10000)
	s := newScheduler(FetchConfig{Concurrency: loadInFlight, PerHost: 1}, nil)
	b.ReportAllocs()
	for i := range b.N {
		bs := newBatchState(&stages.Job{ID: fmt.Sprint(i), Flow: fmt.Sprint(i), Requests: requests}, loadWindow)
		s.add(bs)
		s.remove(bs)
	}
}

// The scheduler's steps per grant (flows looked at, lanes parked, URLs
// scanned) stay flat from 16 to 256 active batches with per-host gates
// on: a grant never scans the batches, their windows or their lanes.
func TestSchedulerWorkPerGrantIsFlat(t *testing.T) {
	const grants = 20000
	for _, cfg := range []FetchConfig{
		{Concurrency: loadInFlight, PerHost: 1},
		{Concurrency: loadInFlight, PerHostRate: 100, PerHostBurst: 1},
		{Concurrency: loadInFlight, PerHost: 1, Reserve: 8},
		{Concurrency: loadInFlight, Reserve: 8},
	} {
		perGrant := map[int][3]float64{}
		for _, active := range []int{16, 256} {
			l := newGrantLoad(cfg, active)
			l.warmUp()
			for l.grants < grants {
				if !l.step() {
					l.fill()
				}
			}
			g, work := float64(l.grants), l.steps()
			perGrant[active] = [3]float64{float64(work.looks) / g, float64(work.parks) / g, float64(work.scans) / g}
		}
		few, many := perGrant[16], perGrant[256]
		for k, name := range []string{"flows looked at", "lanes parked", "URLs scanned"} {
			if many[k] > 1.5*few[k]+0.5 {
				t.Errorf("per-host cap %d, rate %v, reserve %d: %s per grant: %.2f at 256 batches, %.2f at 16; want it flat",
					cfg.PerHost, cfg.PerHostRate, cfg.Reserve, name, many[k], few[k])
			}
		}
		t.Logf("per-host cap %d, rate %v, reserve %d: per grant at 16 / 256 batches: looks %.2f / %.2f, parks %.2f / %.2f, scans %.2f / %.2f",
			cfg.PerHost, cfg.PerHostRate, cfg.Reserve, few[0], many[0], few[1], many[1], few[2], many[2])
	}
}

// Driven at random with gates on (a cap of 2 and a pace per host, and
// some batches with a lower rate of their own), the scheduler starts every
// URL once, never more than the cap in flight to a host, never more than
// a window started and not sent, and always says when to wake when it
// holds URLs back.
func TestSchedulerGatesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cfg := FetchConfig{Concurrency: 8, PerHost: 2, PerHostRate: 2000, PerHostBurst: 2, PerHostJitter: 0.5}
	s := newScheduler(cfg, nil)
	now := time.Now()
	var batches []*batchState
	total := 0
	for i := range 20 {
		n := 1 + rng.IntN(60)
		urls := make([]string, n)
		for k := range urls {
			urls[k] = fmt.Sprintf("http://h%d.example/%d", rng.IntN(5), k)
		}
		j := &stages.Job{ID: fmt.Sprint(i), Flow: fmt.Sprint(i % 7), Requests: wire.URLs(urls...), Priority: rng.IntN(3)}
		if i%4 == 0 {
			j.PerHostRate = 500
		}
		b := newBatchState(j, 1+rng.IntN(10))
		s.add(b)
		batches = append(batches, b)
		total += n
	}
	hostOf := func(g grant) string { return polite.KeyOf(g.batch.url(g.index), polite.HostKeyHost) }
	inFlight := map[string]int{}
	var running []grant
	started := map[*batchState]map[int]bool{}
	done := 0
	for steps := 0; done < total; steps++ {
		if steps > 200000 {
			t.Fatalf("stuck: %d of %d done", done, total)
		}
		s.polite.wakeDue(now)
		if len(running) < cfg.Concurrency && rng.IntN(3) > 0 {
			if g, ok := s.next(now); ok {
				if started[g.batch] == nil {
					started[g.batch] = map[int]bool{}
				}
				if started[g.batch][g.index] {
					t.Fatalf("batch %s index %d started twice", g.batch.job.ID, g.index)
				}
				started[g.batch][g.index] = true
				if inFlight[hostOf(g)]++; inFlight[hostOf(g)] > cfg.PerHost {
					t.Fatalf("%d in flight to %s, over the cap", inFlight[hostOf(g)], hostOf(g))
				}
				running = append(running, g)
				continue
			} else if len(running) == 0 && s.nextWake().IsZero() {
				t.Fatalf("nothing runs, nothing to wake for, %d of %d done", done, total)
			}
		}
		if len(running) > 0 && rng.IntN(2) == 0 {
			k := rng.IntN(len(running))
			g := running[k]
			running = append(running[:k], running[k+1:]...)
			inFlight[hostOf(g)]--
			finishGrant(s, g, now)
			done++
		}
		for _, b := range batches {
			if b.nextStart-b.sent > b.width {
				t.Fatalf("batch %s: %d started and not sent, window %d", b.job.ID, b.nextStart-b.sent, b.width)
			}
		}
		now = now.Add(time.Duration(rng.IntN(400)) * time.Microsecond)
	}
}
