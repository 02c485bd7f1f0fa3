package service

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// The fleet tests run three replicas in this process on one embedded NATS
// server with JetStream, and one loopback host that records when each
// request arrived.

// startReplicas starts n replicas of one fleet ("t") on natsURL, each on
// its own input subject when direct (fleet.0, fleet.1, ...: a test then
// says which replica gets a batch), else all on the default subject and
// queue group; edit changes all of them.
func startReplicas(t *testing.T, natsURL string, n int, direct bool, edit func(*Config)) []*testService {
	t.Helper()
	replicas := make([]*testService, n)
	for i := range replicas {
		replicas[i] = start(t, natsURL, func(c *Config) {
			c.Fetch.Fleet = "t"
			if direct {
				c.Subjects.In = fmt.Sprintf("fleet.%d", i)
			}
			if edit != nil {
				edit(c)
			}
		})
	}
	return replicas
}

// sent is a batch published by request-reply: its results, or why none.
type sent struct {
	results []wire.Result
	err     error
}

// requestBatches sends each batch to its subject at once, by
// request-reply, and returns the replies in order.
func requestBatches(t *testing.T, nc *nats.Conn, subjects []string, batches []wire.Batch) []sent {
	t.Helper()
	out := make([]sent, len(batches))
	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Go(func() {
			data, _ := json.Marshal(b)
			reply, err := nc.Request(subjects[i], data, 45*time.Second)
			if err != nil {
				out[i].err = err
				return
			}
			out[i].err = json.Unmarshal(reply.Data, &out[i].results)
		})
	}
	wg.Wait()
	return out
}

// textBatch is n URLs to site's /text, told apart by a query.
func textBatch(site *fetchtest.Target, id string, n int) wire.Batch {
	urls := make([]string, n)
	for i := range urls {
		urls[i] = site.URL(fmt.Sprintf("/text?b=%s&i=%d", id, i))
	}
	return wire.Batch{ID: id, URLs: wire.URLs(urls...)}
}

// mostInOneSecond is the most hits within any one second.
func mostInOneSecond(hits []fetchtest.Hit) int {
	most := 0
	for i := range hits {
		n := 0
		for _, h := range hits[i:] {
			if h.At.Sub(hits[i].At) >= time.Second {
				break
			}
			n++
		}
		most = max(most, n)
	}
	return most
}

// allOK fails t unless every batch came back with count results, all ok.
func allOK(t *testing.T, replies []sent, count int) {
	t.Helper()
	for i, r := range replies {
		if r.err != nil || len(r.results) != count {
			t.Fatalf("batch %d: %d results, %v", i, len(r.results), r.err)
		}
		for _, res := range r.results {
			if !res.OK() {
				t.Errorf("batch %d: %s %q %s", i, res.URL, res.Error, res.Message)
			}
		}
	}
}

// Three replicas at --per-host-rate 10 on one queue group, 6 batches of 20
// URLs to one host: the host never sees more than 12 in any second, and
// all 120 arrive (per process, the replicas that got batches would each
// send 10 a second).
func TestFleetHoldsOnePaceForTheHost(t *testing.T) {
	ns, nc := natstest.Start(t)
	site := fetchtest.NewTarget(t)
	startReplicas(t, ns.ClientURL(), 3, false, func(c *Config) { c.Fetch.PerHostRate = 10 })
	subjects := slices.Repeat([]string{wire.DefaultInSubject}, 6)
	batches := make([]wire.Batch, 6)
	for i := range batches {
		batches[i] = textBatch(site, fmt.Sprintf("q%d", i), 20)
	}
	allOK(t, requestBatches(t, nc, subjects, batches), 20)
	hits := site.Hits("/text")
	if len(hits) != 120 {
		t.Fatalf("%d requests arrived, want 120", len(hits))
	}
	if most := mostInOneSecond(hits); most > 12 {
		t.Errorf("the host saw %d requests in one second, want at most 12 (the fleet's 10 a second)", most)
	}
}

// One batch of 60 URLs on one of three replicas goes at the fleet's whole
// rate (about 6 s at 10 a second), not at a third of it (18 s).
func TestFleetGivesOneReplicaTheWholePace(t *testing.T) {
	ns, nc := natstest.Start(t)
	site := fetchtest.NewTarget(t)
	startReplicas(t, ns.ClientURL(), 3, true, func(c *Config) { c.Fetch.PerHostRate = 10 })
	began := time.Now()
	allOK(t, requestBatches(t, nc, []string{"fleet.1"}, []wire.Batch{textBatch(site, "one", 60)}), 60)
	took := time.Since(began)
	if took > 8500*time.Millisecond {
		t.Errorf("60 URLs at a fleet rate of 10 a second took %s on one replica, want about 6 s (at most 8.5 s)", took)
	}
	if most := mostInOneSecond(site.Hits("/text")); most > 12 {
		t.Errorf("the host saw %d requests in one second, want at most 12", most)
	}
}

// With robots.txt on, 6 batches over 3 replicas: the site's robots.txt is
// fetched once for all of them, and its disallowed path never.
func TestFleetFetchesRobotsOnce(t *testing.T) {
	ns, nc := natstest.Start(t)
	site := fetchtest.NewTarget(t)
	site.SetRobots("User-agent: *\nDisallow: /private\n")
	startReplicas(t, ns.ClientURL(), 3, true, func(c *Config) { c.Fetch.Robots = true })
	var subjects []string
	var batches []wire.Batch
	for i := range 6 {
		b := textBatch(site, fmt.Sprintf("r%d", i), 4)
		b.URLs = append(b.URLs, wire.URLs(site.URL(fmt.Sprintf("/private/%d", i)))...)
		subjects, batches = append(subjects, fmt.Sprintf("fleet.%d", i%3)), append(batches, b)
	}
	replies := requestBatches(t, nc, subjects, batches)
	for i, r := range replies {
		if r.err != nil || len(r.results) != 5 {
			t.Fatalf("batch %d: %d results, %v", i, len(r.results), r.err)
		}
		if e := r.results[4].Error; e != wire.ErrRobotsDisallowed {
			t.Errorf("batch %d: the disallowed URL ended %q, want robots_disallowed", i, e)
		}
	}
	if n := len(site.Hits("/robots.txt")); n != 1 {
		t.Errorf("robots.txt fetched %d times by the fleet, want once", n)
	}
	if n := len(site.Hits("/private")); n != 0 {
		t.Errorf("%d requests to the disallowed path", n)
	}
}

// hitsBetween counts the hits at or after from and before to.
func hitsBetween(hits []fetchtest.Hit, from, to time.Time) int {
	n := 0
	for _, h := range hits {
		if !h.At.Before(from) && h.At.Before(to) {
			n++
		}
	}
	return n
}

// awaitHits waits until the site has had n requests to prefix, and
// returns them.
func awaitHits(t *testing.T, site *fetchtest.Target, prefix string, n int, within time.Duration) []fetchtest.Hit {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if hits := site.Hits(prefix); len(hits) >= n {
			return hits
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests to %s within %s, want %d", len(site.Hits(prefix)), prefix, within, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A 429 with Retry-After: 2 seen by one replica pauses the host for all:
// while two others crawl it at the fleet's pace, none sends it a request
// until the pause ends, but at most one already on its way.
func TestFleetPausesTheHostForEveryReplica(t *testing.T) {
	ns, nc := natstest.Start(t)
	site := fetchtest.NewTarget(t)
	replicas := startReplicas(t, ns.ClientURL(), 3, true, func(c *Config) { c.Fetch.PerHostRate, c.Ops.MetricsAddr = 10, "127.0.0.1:0" })
	crawl := make(chan []sent, 1)
	go func() {
		crawl <- requestBatches(t, nc, []string{"fleet.1", "fleet.2"}, []wire.Batch{textBatch(site, "c1", 25), textBatch(site, "c2", 25)})
	}()
	awaitHits(t, site, "/text", 5, 10*time.Second)
	paused := make(chan []sent, 1)
	go func() {
		paused <- requestBatches(t, nc, []string{"fleet.0"}, []wire.Batch{{ID: "p", URLs: wire.URLs(site.URL("/status/429?retry_after=2"))}})
	}()
	at := awaitHits(t, site, "/status", 1, 10*time.Second)[0].At
	seen := awaitFleetPause(t, replicas[1], strings.TrimPrefix(site.URL(""), "http://"))
	if want := replicaID(t, replicas[0]); seen.PausedBy != want || seen.PausedUntil.Sub(at) < 2*time.Second || seen.PausedUntil.Sub(at) > 3*time.Second {
		t.Errorf("another replica shows the pause %+v, want until about 2 s after %s, seen by %s", seen, at, want)
	}
	awaitMetric(t, opsAddr(replicas[1]), `fetchstream_fleet_host_pace{host="`+seen.Host+`"} 10`)
	awaitMetric(t, opsAddr(replicas[1]), "fetchstream_fleet_fallbacks_total 0")
	allOK(t, <-crawl, 25)
	<-paused
	hits := site.Hits("/text")
	if n := hitsBetween(hits, at, at.Add(2*time.Second)); n > 1 {
		t.Errorf("%d requests reached the host in the 2 s after its 429, want at most one already on its way", n)
	}
	if n := hitsBetween(hits, at.Add(2*time.Second), at.Add(3*time.Second)); n == 0 {
		t.Error("no request in the second after the pause ended: the crawl did not go on")
	}
}

// A host with no per-host rule passes no gate until it asks for a pause;
// then a 429 with Retry-After: 2 seen by one replica holds the batch
// another replica admitted ungated: it sends the host nothing until the
// pause ends (once, it went on: 16 requests in those 2 s).
func TestFleetPauseHoldsAnUngatedBatch(t *testing.T) {
	ns, nc := natstest.Start(t)
	site := fetchtest.NewTarget(t)
	startReplicas(t, ns.ClientURL(), 2, true, func(c *Config) { c.Fetch.Concurrency = 1 })
	urls := make([]string, 30)
	for i := range urls {
		urls[i] = site.URL(fmt.Sprintf("/delay/100?i=%d", i))
	}
	crawl := make(chan []sent, 1)
	go func() {
		crawl <- requestBatches(t, nc, []string{"fleet.1"}, []wire.Batch{{ID: "c", URLs: wire.URLs(urls...)}})
	}()
	awaitHits(t, site, "/delay", 3, 10*time.Second)
	go requestBatches(t, nc, []string{"fleet.0"}, []wire.Batch{{ID: "p", URLs: wire.URLs(site.URL("/status/429?retry_after=2"))}})
	at := awaitHits(t, site, "/status", 1, 10*time.Second)[0].At
	allOK(t, <-crawl, 30)
	hits := site.Hits("/delay")
	// One request may be on its way when the pause is heard of (a
	// fraction of a second on one server); none may start after that.
	if n := hitsBetween(hits, at.Add(300*time.Millisecond), at.Add(2*time.Second)); n > 0 {
		t.Errorf("%d requests from the other replica during the 2 s pause, want none", n)
	}
}

// A replica killed mid-crawl gives its share back: the two left take the
// fleet's whole pace for the host, 10 a second, not two thirds of it.
func TestFleetReplicaKilledGivesItsShareBack(t *testing.T) {
	ns, nc := natstest.Start(t)
	site := fetchtest.NewTarget(t)
	replicas := startReplicas(t, ns.ClientURL(), 3, true, func(c *Config) { c.Fetch.PerHostRate, c.ShutdownGrace = 10, 0 })
	crawl := make(chan []sent, 1)
	go func() {
		crawl <- requestBatches(t, nc, []string{"fleet.0", "fleet.1", "fleet.2"},
			[]wire.Batch{textBatch(site, "k0", 40), textBatch(site, "k1", 40), textBatch(site, "k2", 40)})
	}()
	awaitHits(t, site, "/text", 15, 10*time.Second)
	replicas[0].stop()
	killed := time.Now()
	replies := <-crawl
	allOK(t, replies[1:], 40)
	hits := site.Hits("/text")
	from := killed.Add(time.Second) // its last leased slots, half a second, pass
	n := hitsBetween(hits, from, from.Add(3*time.Second))
	t.Logf("%d requests in the 3 s from a second after the kill", n)
	if n <= 21 {
		t.Errorf("%d requests in 3 s from the two replicas left, want more than two thirds of the fleet's 30", n)
	}
	if most := mostInOneSecond(hits); most > 12 {
		t.Errorf("the host saw %d requests in one second, want at most 12", most)
	}
}

// On a server without JetStream each replica keeps its own politeness,
// says so once at start, and serves paced batches all the same.
func TestFleetWithoutJetStreamIsPerReplica(t *testing.T) {
	url := natstest.StartWithOptions(t, &server.Options{})
	nc := natstest.Connect(t, url)
	site := fetchtest.NewTarget(t)
	svc := start(t, url, func(c *Config) { c.Fetch.PerHostRate = 20 })
	allOK(t, requestBatches(t, nc, []string{wire.DefaultInSubject}, []wire.Batch{textBatch(site, "solo", 5)}), 5)
	if n := strings.Count(svc.logs.String(), "politeness is per replica"); n != 1 {
		t.Errorf("the per-replica politeness was said %d times, want once:\n%s", n, svc.logs)
	}
}

// awaitFleetPause waits for s's micro stats to show host paused for the
// fleet, and returns what they show.
func awaitFleetPause(t *testing.T, s *testService, host string) engine.HostFleet {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, f := range hostStatsOf(t, s).FleetHosts {
			if f.Host == host && !f.PausedUntil.IsZero() {
				return f
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the micro stats never showed %s paused for the fleet", host)
	return engine.HostFleet{}
}

// replicaID is the replica name s gave the fleet, from its start-up log.
func replicaID(t *testing.T, s *testService) string {
	t.Helper()
	for line := range strings.Lines(s.logs.String()) {
		var l struct{ Msg, Replica string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "politeness is shared by the fleet" {
			return l.Replica
		}
	}
	t.Fatalf("no fleet line in the log:\n%s", s.logs)
	return ""
}

// awaitMetric waits, up to 3 s (the counts come about once a second), for
// ops' /metrics to hold line.
func awaitMetric(t *testing.T, ops, line string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, body := get(t, ops+"/metrics")
		if slices.Contains(strings.Split(body, "\n"), line) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line %q in /metrics:\n%s", line, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Attack: a hostile server's Retry-After of an hour, seen by one replica,
// holds the host for the fleet only --max-host-pause (here 1 s): the
// other replica's crawl goes on after it.
func TestFleetPauseIsCappedByMaxHostPause(t *testing.T) {
	ns, nc := natstest.Start(t)
	site := fetchtest.NewTarget(t)
	startReplicas(t, ns.ClientURL(), 2, true, func(c *Config) { c.Fetch.PerHostRate, c.Fetch.MaxHostPause = 10, time.Second })
	crawl := make(chan []sent, 1)
	go func() { crawl <- requestBatches(t, nc, []string{"fleet.1"}, []wire.Batch{textBatch(site, "c", 40)}) }()
	awaitHits(t, site, "/text", 3, 10*time.Second)
	go requestBatches(t, nc, []string{"fleet.0"}, []wire.Batch{{ID: "p", URLs: wire.URLs(site.URL("/status/429?retry_after=3600"))}})
	at := awaitHits(t, site, "/status", 1, 10*time.Second)[0].At
	allOK(t, <-crawl, 40)
	hits := site.Hits("/text")
	if n := hitsBetween(hits, at.Add(200*time.Millisecond), at.Add(time.Second)); n > 0 {
		t.Errorf("%d requests during the 1 s pause", n)
	}
	if last := hits[len(hits)-1].At; last.Sub(at) > 10*time.Second {
		t.Errorf("the crawl ended %s after the 429: the hour's pause was not cut to 1 s", last.Sub(at))
	}
}

// Replicas are named after their host, so that seen_by says where a
// pause was seen, and two in one process still differ (the fleet counts
// them by name).
func TestReplicaNamesDifferAndNameTheHost(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no hostname:", err)
	}
	a, b := replicaName(), replicaName()
	if a == b {
		t.Errorf("two replicas both named %q", a)
	}
	if want := host[:min(len(host), maxHostnameInName)] + "-"; !strings.HasPrefix(a, want) || len(a) > 64 {
		t.Errorf("replica name %q, want it to begin with %q and hold at most 64 bytes", a, want)
	}
}
