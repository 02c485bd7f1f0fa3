package engine

import (
	"context"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
	"github.com/fetchstream/fetchstream/stages/polite"
	"github.com/fetchstream/fetchstream/wire"
)

var _ RobotsFetcher = (*httpfetch.Fetcher)(nil)

// results returns job id's results in the order they came out.
func resultsOf(got []any, id string) []wire.Result {
	var rs []wire.Result
	for _, e := range got {
		if f, ok := e.(*stages.Fetched); ok && f.Job.ID == id {
			rs = append(rs, f.Result)
		}
	}
	return rs
}

// paceSlack is how much earlier than its pace a request may reach a
// target: the pace holds when the scheduler lets requests go, and a
// request's arrival comes later by a delay that varies (goroutine
// switches, a loaded machine under -race). A delayed request shortens
// the gap after it by that delay once; it does not add up over a run.
const paceSlack = 100 * time.Millisecond

// checkPaced fails t when hits came faster than one per interval: for
// every two, the later came at least interval times the requests between
// them after the earlier, less paceSlack. Two requests let go together
// (no pace) fail it however the machine runs.
func checkPaced(t *testing.T, hits []fetchtest.Hit, interval time.Duration, what string) {
	t.Helper()
	for i := range hits {
		for j := i + 1; j < len(hits); j++ {
			if gap := hits[j].At.Sub(hits[i].At); gap < time.Duration(j-i)*interval-paceSlack {
				t.Errorf("%s: requests %d and %d came %s apart, want at least %d × %s", what, i, j, gap, j-i, interval)
				return
			}
		}
	}
}

// A per-host rate paces one host's URLs while other hosts' URLs, sent
// meanwhile, go at once: the paced URLs wait without slots, so the other
// hosts get every free slot.
func TestPerHostRatePacesOneHostNotOthers(t *testing.T) {
	paced := fetchtest.NewTarget(t)
	others := []*fetchtest.Target{fetchtest.NewTarget(t), fetchtest.NewTarget(t), fetchtest.NewTarget(t)}
	const concurrency = 4
	run := startFetch(t, t.Context(), loopbackFetcher(t, concurrency),
		FetchConfig{Concurrency: concurrency, Window: 64, MaxActive: 4, PerHostRate: 5, PerHostBurst: 1})
	start := time.Now()
	slow := job("paced", time.Minute, urlsOf(paced, "/text", 15)...)
	run.stage.In() <- slow
	waitFor(t, "the paced host's first request", func() bool { return paced.Requests() >= 1 })
	var urls []string
	for _, o := range others {
		urls = append(urls, o.URL("/gate/other"))
	}
	quick := job("other", time.Minute, urls...)
	run.stage.In() <- quick
	// The 14 paced URLs left wait in the scheduler: the other hosts' 3
	// are in flight at once, which 4 slots allow only if the waiting
	// URLs hold none (and while the paced host is far from done).
	waitFor(t, "the other hosts' 3 URLs in flight together", func() bool {
		return others[0].InFlight()+others[1].InFlight()+others[2].InFlight() == 3
	})
	if n := paced.Requests(); n >= 15 {
		t.Fatalf("the paced host had all %d requests before the other hosts' were in flight", n)
	}
	for _, o := range others {
		o.Open("other")
	}
	got := run.finish(t)
	took := time.Since(start)
	checkOrdered(t, got, slow, quick)
	if took < 2800*time.Millisecond {
		t.Errorf("15 URLs at 5 per second took %s, want at least 2.8s", took)
	}
	checkPaced(t, paced.Hits("/text"), 200*time.Millisecond, "the paced host at 5 per second")
	otherDone, _ := position(got, "other")
	pacedDone, _ := position(got, "paced")
	if otherDone > pacedDone {
		t.Error("the other hosts' batch finished after the paced one: it waited behind the pace")
	}
	rs := resultsOf(got, "paced")
	if rs[0].HostWaitMS != 0 || rs[14].HostWaitMS < 2000 {
		t.Errorf("host_wait_ms: first %v, last %v; want 0 and at least 2000", rs[0].HostWaitMS, rs[14].HostWaitMS)
	}
	for _, r := range resultsOf(got, "other") {
		if !r.OK() || r.HostWaitMS != 0 {
			t.Errorf("other host: %s %q, host_wait_ms %v; want ok without a host wait", r.URL, r.Error, r.HostWaitMS)
		}
	}
}

// A batch's per_host_rate lowers the pace for that batch only.
func TestBatchPerHostRateLowersThePace(t *testing.T) {
	target := fetchtest.NewTarget(t)
	run := startFetch(t, t.Context(), loopbackFetcher(t, 4), FetchConfig{Concurrency: 4, Window: 64, MaxActive: 4, PerHostRate: 100})
	j := job("slow", time.Minute, urlsOf(target, "/text", 4)...)
	j.PerHostRate = 4
	run.stage.In() <- j
	checkOrdered(t, run.finish(t), j)
	checkPaced(t, target.Hits("/text"), 250*time.Millisecond, "the batch's 4 per second, not the stage's 100")
}

// After a 429 with Retry-After: 2, the host gets no request from any batch
// until the pause is over, other hosts go on, and then the host's URLs
// succeed.
func TestRetryAfterPausesTheHostForEveryone(t *testing.T) {
	host, other := fetchtest.NewTarget(t), fetchtest.NewTarget(t)
	run := startFetch(t, t.Context(), loopbackFetcher(t, 4),
		FetchConfig{Concurrency: 4, Window: 64, MaxActive: 8, MaxHostPause: time.Minute})
	first := job("first", time.Minute, host.URL("/status/429?retry_after=2"))
	run.stage.In() <- first
	waitFor(t, "the 429", func() bool { return run.doneCount() == 1 })
	during := job("during", time.Minute, urlsOf(host, "/text", 5)...)
	run.stage.In() <- during
	meanwhile := job("meanwhile", time.Minute, urlsOf(other, "/text", 3)...)
	run.stage.In() <- meanwhile
	waitFor(t, "the other host's batch", func() bool { return run.doneCount() == 2 })
	if n := host.Requests(); n != 1 {
		t.Errorf("the paused host had %d requests while the other host's batch ran, want only the 429", n)
	}
	got := run.finish(t)
	dones := checkOrdered(t, got, first, during, meanwhile)
	if s := dones["during"].Summary; s.OK != 5 {
		t.Errorf("the batch sent during the pause: %+v, want 5 ok", s)
	}
	hits := host.Hits("/")
	if len(hits) != 6 {
		t.Fatalf("%d requests to the paused host, want 6", len(hits))
	}
	if wait := hits[1].At.Sub(hits[0].At); wait < 2*time.Second {
		t.Errorf("the first request after the 429 came %s after it, want the 2s pause", wait)
	}
	for _, r := range resultsOf(got, "during") {
		if r.HostWaitMS < 500 {
			t.Errorf("result %d waited %vms for its host, want most of the pause", r.Index, r.HostWaitMS)
		}
	}
}

// With robots.txt on: it is fetched once for all the URLs of many batches,
// a disallowed path is never requested and fails as robots_disallowed,
// Crawl-delay: 1 spaces the allowed requests a second apart, and none of
// it holds back another host (whose robots.txt is a 404: allow all).
func TestRobotsTxtObeyed(t *testing.T) {
	site, other := fetchtest.NewTarget(t), fetchtest.NewTarget(t)
	site.SetRobots("User-agent: *\nDisallow: /private\nCrawl-delay: 1\n\nUser-agent: otherbot\nDisallow: /\n")
	const concurrency = 2
	run := startFetch(t, t.Context(), loopbackFetcher(t, concurrency),
		FetchConfig{Concurrency: concurrency, Window: 64, MaxActive: 8, Robots: true})
	start := time.Now()
	a := job("a", time.Minute, site.URL("/text"), site.URL("/private/1"), site.URL("/text?x"), site.URL("/private/2"))
	b := job("b", time.Minute, site.URL("/private/3"), site.URL("/text?y"))
	run.stage.In() <- a
	run.stage.In() <- b
	waitFor(t, "the site's first request", func() bool { return len(site.Hits("/text")) >= 1 })
	c := job("c", time.Minute, urlsOf(other, "/gate/c", concurrency)...)
	run.stage.In() <- c
	// Both slots go to the other host while the site's URLs wait out its
	// Crawl-delay.
	waitFor(t, "the other host's URLs in every slot", func() bool { return other.InFlight() == concurrency })
	other.Open("c")
	got := run.finish(t)
	took := time.Since(start)
	dones := checkOrdered(t, got, a, b, c)
	if n := len(site.Hits("/robots.txt")); n != 1 {
		t.Errorf("robots.txt fetched %d times, want once", n)
	}
	if n := len(site.Hits("/private")); n != 0 {
		t.Errorf("%d requests to disallowed paths, want none", n)
	}
	if s := dones["a"].Summary; s.OK != 2 || s.Errors[wire.ErrRobotsDisallowed] != 2 {
		t.Errorf("batch a: %+v, want 2 ok and 2 robots_disallowed", s)
	}
	for _, r := range append(resultsOf(got, "a"), resultsOf(got, "b")...) {
		if r.Error == wire.ErrRobotsDisallowed && (r.Status != 0 || r.Attempts != 0 || r.Message == "") {
			t.Errorf("disallowed result %+v: want no status, no attempts, a message", r)
		}
	}
	checkPaced(t, site.Hits("/text"), time.Second, "Crawl-delay 1")
	if took < 2*time.Second {
		t.Errorf("3 allowed URLs at Crawl-delay 1 took %s, want at least 2s", took)
	}
	if cDone, _ := position(got, "c"); cDone > len(got)-2 {
		t.Error("the other host's batch came last: it waited behind the site's Crawl-delay")
	}
}

// A batch may ask for robots.txt alone; a batch that does not ask is not
// held by it.
func TestRobotsPerBatch(t *testing.T) {
	site := fetchtest.NewTarget(t)
	site.SetRobots("User-agent: fetchstream\nDisallow: /private\n")
	run := startFetch(t, t.Context(), loopbackFetcher(t, 2), FetchConfig{Concurrency: 2, Window: 8, MaxActive: 4})
	polite := job("polite", time.Minute, site.URL("/private/1"))
	polite.Robots = true
	plain := job("plain", time.Minute, site.URL("/private/2"))
	run.stage.In() <- polite
	run.stage.In() <- plain
	dones := checkOrdered(t, run.finish(t), polite, plain)
	if s := dones["polite"].Summary; s.Errors[wire.ErrRobotsDisallowed] != 1 {
		t.Errorf("the batch that asked for robots.txt: %+v, want robots_disallowed", s)
	}
	if s := dones["plain"].Summary; s.OK != 1 {
		t.Errorf("the batch that did not: %+v, want ok", s)
	}
	if n := len(site.Hits("/private")); n != 1 {
		t.Errorf("%d requests to /private, want the plain batch's one", n)
	}
}

// A canceled stage does not wait out a pause: held URLs end as canceled.
func TestCancelEndsURLsHeldByAPause(t *testing.T) {
	host := fetchtest.NewTarget(t)
	ctx, cancel := context.WithCancel(t.Context())
	run := startFetch(t, ctx, loopbackFetcher(t, 2), FetchConfig{Concurrency: 2, Window: 8, MaxActive: 4, MaxHostPause: time.Minute})
	first := job("first", time.Minute, host.URL("/status/503?retry_after=50"))
	run.stage.In() <- first
	waitFor(t, "the 503", func() bool { return run.doneCount() == 1 })
	held := job("held", time.Minute, urlsOf(host, "/text", 3)...)
	run.stage.In() <- held
	cancel()
	dones := checkOrdered(t, run.finish(t), first, held)
	if s := dones["held"].Summary; s.Errors[wire.ErrCanceled] != 3 {
		t.Errorf("held batch %+v, want 3 canceled", s)
	}
	if n := host.Requests(); n != 1 {
		t.Errorf("%d requests, want only the 503", n)
	}
}

// With the domain key, a.example.test and b.example.test share one pace:
// six URLs, three to each, at 5 per second take a second or more, where
// by host they would go two at a time.
func TestPerHostKeyDomainSharesThePace(t *testing.T) {
	target := fetchtest.NewTarget(t)
	u, _ := url.Parse(target.URL(""))
	loopback := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	resolver := fetchtest.NewResolver(t, map[string][]netip.Addr{"a.example.test": loopback, "b.example.test": loopback})
	f, err := httpfetch.New(httpfetch.Config{Concurrency: 4, MaxBody: 1 << 20, MaxRedirects: 5,
		Policy: httpfetch.Policy{AllowPrivate: true}, Resolver: resolver})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	var urls []string
	for range 3 {
		urls = append(urls, "http://a.example.test:"+u.Port()+"/text", "http://b.example.test:"+u.Port()+"/text")
	}
	run := startFetch(t, t.Context(), f, FetchConfig{Concurrency: 4, Window: 16, MaxActive: 2, PerHostRate: 5, PerHostKey: polite.HostKeyDomain})
	j := job("domain", time.Minute, urls...)
	run.stage.In() <- j
	dones := checkOrdered(t, run.finish(t), j)
	if s := dones["domain"].Summary; s.OK != 6 {
		t.Fatalf("summary %+v, want 6 ok", s)
	}
	checkPaced(t, target.Hits("/text"), 200*time.Millisecond, "one registrable domain, one pace of 5 per second")
}

// The retry of a URL that got 429 Retry-After: 1 waits for the pause in
// the scheduler, not in its worker: with one slot, another host's URLs
// run during the pause, and then the retry succeeds, its result telling
// both attempts and the wait.
func TestRetryWaitsForThePauseWithoutASlot(t *testing.T) {
	h, other := fetchtest.NewHostile(t), fetchtest.NewTarget(t)
	f, err := httpfetch.New(httpfetch.Config{Concurrency: 1, MaxBody: 1 << 20, MaxRedirects: 5, Retries: 1,
		RetryBase: time.Millisecond, RetryMax: time.Millisecond, Policy: httpfetch.Policy{AllowPrivate: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	run := startFetch(t, t.Context(), f, FetchConfig{Concurrency: 1, Window: 8, MaxActive: 4, MaxHostPause: time.Minute})
	start := time.Now()
	flaky := job("flaky", 10*time.Second, h.URL("/flaky?key=k&fail=1&status=429&retry_after=1"))
	run.stage.In() <- flaky
	waitFor(t, "the 429", func() bool { return h.FlakyCount("k") == 1 })
	meanwhile := job("meanwhile", 10*time.Second, urlsOf(other, "/text", 3)...)
	run.stage.In() <- meanwhile
	waitFor(t, "the other host's batch, during the pause", func() bool { return run.doneCount() == 1 })
	if n := h.FlakyCount("k"); n != 1 {
		t.Errorf("the paused host had %d requests before the other host's batch was done, want the 429 alone", n)
	}
	got := run.finish(t)
	dones := checkOrdered(t, got, flaky, meanwhile)
	if first, _ := position(got, "meanwhile"); first > 3 {
		t.Error("the other host's batch did not finish first: the one slot was held through the pause")
	}
	r := resultsOf(got, "flaky")[0]
	if !r.OK() || r.Attempts != 2 || r.HostWaitMS < 900 || r.ElapsedMS < 1000 {
		t.Errorf("retried URL: %q status %d, %d attempts, host_wait_ms %v, elapsed_ms %v; want ok after 2, a wait of about 1s",
			r.Error, r.Status, r.Attempts, r.HostWaitMS, r.ElapsedMS)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("took %s, shorter than the 1s Retry-After", took)
	}
	if s := dones["flaky"].Summary; s.OK != 1 {
		t.Errorf("summary %+v", s)
	}
}

// deferrals is a HostObserver that counts the retries handed back.
type deferrals struct{ n atomic.Int64 }

func (*deferrals) RequestStarted()              {}
func (*deferrals) RequestFinished(*wire.Result) {}
func (*deferrals) Refused(*wire.Result)         {}
func (*deferrals) Hosts(HostStats)              {}
func (d *deferrals) RequestDeferred()           { d.n.Add(1) }

// A retry handed back to wait for its host's pause ends as canceled when
// the stage is canceled meanwhile, saying what its attempt ended as.
func TestCancelEndsARetryWaitingForItsHost(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancelWhileARetryWaits(t, ctx, cancel)
}

// cancelWhileARetryWaits runs the scenario of the tests above and of
// TestStopSendsNoRetryThroughALateCancel: a URL whose 503 asks for 20s is
// handed back to wait for its host; the stage, on ctx, is then canceled
// by cancel. It must end as canceled after its one attempt, naming the
// 503, with no second request.
func cancelWhileARetryWaits(t *testing.T, ctx context.Context, cancel func()) {
	t.Helper()
	h := fetchtest.NewHostile(t)
	f, err := httpfetch.New(httpfetch.Config{Concurrency: 2, MaxBody: 1 << 20, MaxRedirects: 5, Retries: 2,
		RetryBase: time.Millisecond, RetryMax: time.Millisecond, Policy: httpfetch.Policy{AllowPrivate: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	obs := &deferrals{}
	run := startFetch(t, ctx, f, FetchConfig{Concurrency: 2, Window: 8, MaxActive: 4, MaxHostPause: time.Minute, Observer: obs})
	j := job("j", 30*time.Second, h.URL("/flaky?key=k&fail=9&status=503&retry_after=20"))
	run.stage.In() <- j
	waitFor(t, "the retry handed back", func() bool { return obs.n.Load() == 1 })
	cancel()
	got := run.finish(t)
	checkOrdered(t, got, j)
	r := resultsOf(got, "j")[0]
	if r.Error != wire.ErrCanceled || r.Attempts != 1 || !strings.Contains(r.Message, "attempt 1 ended as status 503") {
		t.Errorf("result %q after %d attempts: %s; want canceled after 1, naming the 503", r.Error, r.Attempts, r.Message)
	}
	if n := h.FlakyCount("k"); n != 1 {
		t.Errorf("%d requests, want the 503 alone", n)
	}
}

// A batch's own user_agent is the one whose robots.txt rules it obeys.
func TestRobotsForTheBatchUserAgent(t *testing.T) {
	site := fetchtest.NewTarget(t)
	site.SetRobots("User-agent: otherbot\nDisallow: /\n")
	run := startFetch(t, t.Context(), loopbackFetcher(t, 2), FetchConfig{Concurrency: 2, Window: 8, MaxActive: 4, Robots: true})
	other := job("other", time.Minute, site.URL("/text"))
	other.Options = &wire.RequestOptions{UserAgent: "otherbot/1.0"}
	ours := job("ours", time.Minute, site.URL("/text"))
	run.stage.In() <- other
	run.stage.In() <- ours
	dones := checkOrdered(t, run.finish(t), other, ours)
	if s := dones["other"].Summary; s.Errors[wire.ErrRobotsDisallowed] != 1 {
		t.Errorf("the batch as otherbot: %+v, want robots_disallowed", s)
	}
	if s := dones["ours"].Summary; s.OK != 1 {
		t.Errorf("the batch as fetchstream: %+v, want ok", s)
	}
}

// A batch admitted before any host asked for a pause goes ungated (only a
// pause could hold its URLs); the first pause holds its URLs not yet
// started to the paused host all the same, and they wait it out.
func TestPauseHoldsTheURLsOfABatchAdmittedBeforeIt(t *testing.T) {
	host := fetchtest.NewTarget(t)
	run := startFetch(t, t.Context(), loopbackFetcher(t, 1),
		FetchConfig{Concurrency: 1, Window: 64, MaxActive: 8, MaxHostPause: time.Minute})
	b := job("before", time.Minute, append([]string{host.URL("/status/429?retry_after=2")}, urlsOf(host, "/text", 3)...)...)
	run.stage.In() <- b
	got := run.finish(t)
	dones := checkOrdered(t, got, b)
	if s := dones["before"].Summary; s.OK != 3 || s.Failed != 1 {
		t.Errorf("summary %+v, want the 429 and 3 ok", s)
	}
	hits := host.Hits("/")
	if len(hits) != 4 {
		t.Fatalf("%d requests to the host, want 4", len(hits))
	}
	if wait := hits[1].At.Sub(hits[0].At); wait < 2*time.Second {
		t.Errorf("the first request after the 429 came %s after it, want the 2s pause", wait)
	}
	for _, r := range resultsOf(got, "before")[1:] {
		if r.HostWaitMS < 500 {
			t.Errorf("result %d waited %vms for its host, want most of the pause", r.Index, r.HostWaitMS)
		}
	}
}

// A hostile host's 429 that turns ungated batches into lanes holds only
// that host: the batch's URLs to another host go on at once, and so does
// another batch admitted before the pause, while the pause runs. Held
// requests (fetchtest's /gate) order it: "meanwhile" takes both slots and
// is in flight, ungated, when the 429 goes out on the slot its first gate
// frees; the other slot stays held, so no second request to the host can
// start before the 429 is filed (the dispatcher takes a signal before the
// completion that sent it, and the result after both). So exactly one request reaches the host until
// the pause ends, whatever the machine's speed.
func TestPauseOfOneHostHoldsNotTheOthersOfABatchAdmittedBeforeIt(t *testing.T) {
	host, other := fetchtest.NewTarget(t), fetchtest.NewTarget(t)
	run := startFetch(t, t.Context(), loopbackFetcher(t, 2),
		FetchConfig{Concurrency: 2, Window: 64, MaxActive: 8, MaxHostPause: time.Minute})
	meanwhile := job("meanwhile", time.Minute, other.URL("/gate/first"), other.URL("/gate/second"),
		other.URL("/text"), other.URL("/text"))
	b := job("before", time.Minute, host.URL("/status/429?retry_after=2"),
		host.URL("/text"), other.URL("/text"), host.URL("/text"), other.URL("/text"))
	run.stage.In() <- meanwhile
	waitFor(t, "meanwhile to hold both slots", func() bool { return other.Requests() == 2 })
	run.stage.In() <- b
	other.Open("first") // frees a slot: the 429 goes out while meanwhile is in flight
	waitFor(t, "the 429's result", func() bool { return run.resultCount("before") == 1 })
	other.Open("second") // the pause is on: the slot this frees cannot go to the host
	waitFor(t, "meanwhile, during the pause", func() bool { return run.doneCount() == 1 })
	if n := host.Requests(); n != 1 {
		t.Errorf("the paused host had %d requests before the pause ended, want only the 429", n)
	}
	got := run.finish(t)
	checkOrdered(t, got, meanwhile, b)
	if d := resultsOf(got, "before"); d[0].Status != 429 {
		t.Fatalf("the first result is %d, want the 429", d[0].Status)
	}
	hostHits, otherHits := host.Hits("/"), other.Hits("/")
	if len(hostHits) != 3 || len(otherHits) != 6 {
		t.Fatalf("requests: %d to the paused host, %d to the other; want 3 and 6", len(hostHits), len(otherHits))
	}
	for _, h := range hostHits[1:] {
		if wait := h.At.Sub(hostHits[0].At); wait < 2*time.Second {
			t.Errorf("a request to the paused host came %s after its 429, want the 2s pause", wait)
		}
	}
	for _, h := range otherHits {
		if !h.At.Before(hostHits[1].At) {
			t.Errorf("a request to the other host (%s) waited for the pause of the paused host", h.Path)
		}
	}
}

// Only a pause could hold a batch with no per-host rule of its own: it
// goes through gates while a host is paused, and ungated again once the
// sweep finds no host paused.
func TestPausingGatesOnlyWhileAHostIsPaused(t *testing.T) {
	h := hosts{cfg: FetchConfig{MaxHostPause: time.Minute, PerHostKey: polite.HostKeyHost}, gates: map[string]*gate{}}
	plain, paced := &stages.Job{}, &stages.Job{PerHostRate: 1}
	if h.gated(plain) || !h.gated(paced) {
		t.Fatalf("before a pause: gated %v (no rule), %v (a rate); want false, true", h.gated(plain), h.gated(paced))
	}
	now := time.Now()
	if !h.slowDown(hostSignal{key: "a.example", retryAfter: time.Second, at: now}) {
		t.Error("the first pause did not report that pausing started")
	}
	if h.slowDown(hostSignal{key: "b.example", retryAfter: time.Second, at: now}) {
		t.Error("a second pause reported that pausing started again")
	}
	if !h.gated(plain) {
		t.Error("during a pause a batch with no rule goes ungated")
	}
	if g := h.gates[hostGateKey("a.example")]; g == nil || !g.PausedAt(now) {
		t.Fatal("the pause made no paused gate for its host")
	}
	h.sweep(now.Add(500 * time.Millisecond))
	if !h.gated(plain) {
		t.Error("a sweep during the pause turned pausing off")
	}
	h.sweep(now.Add(2 * time.Second))
	if h.gated(plain) || len(h.gates) != 0 {
		t.Errorf("after the pause: gated %v, %d gates kept; want ungated, none", h.gated(plain), len(h.gates))
	}
}
