package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/stages/polite"
	"github.com/fetchstream/fetchstream/wire"
)

// newFleets joins n replicas to one fleet on a fresh server (cfg's Name
// and Replica are set here), ended with the test.
func newFleets(t testing.TB, n int, cfg Config) ([]*Fleet, jetstream.JetStream) {
	t.Helper()
	_, nc := natstest.Start(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fleets := make([]*Fleet, n)
	for i := range fleets {
		c := cfg
		c.Name, c.Replica = "test.fleet", fmt.Sprintf("r%d", i)
		if fleets[i], err = New(ctx, js, c); err != nil {
			t.Fatal(err)
		}
	}
	return fleets, js
}

// Leases taken at once by three replicas for one key never share a slot:
// sorted, every slot is an interval after the one before (GCRA with a
// bucket of 1), and no lease fell back to a replica's own pace.
func TestLeasesOfReplicasNeverOverlap(t *testing.T) {
	fleets, _ := newFleets(t, 3, Config{})
	const interval = 10 * time.Millisecond
	var mu sync.Mutex
	var all []time.Time
	var wg sync.WaitGroup
	for _, f := range fleets {
		wg.Go(func() {
			for range 20 {
				got := f.lease(context.Background(), "host a.example:80", 100, 1, 3)
				mu.Lock()
				all = append(all, got...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(all) != 180 {
		t.Fatalf("%d slots, want 180", len(all))
	}
	slices.SortFunc(all, time.Time.Compare)
	for i := 1; i < len(all); i++ {
		if gap := all[i].Sub(all[i-1]); gap < interval {
			t.Fatalf("slots %d and %d are %s apart, want at least %s", i-1, i, gap, interval)
		}
	}
	var conflicts, fallbacks uint64
	for _, f := range fleets {
		conflicts, fallbacks = conflicts+f.Stats().Conflicts, fallbacks+f.Stats().Fallbacks
	}
	if fallbacks != 0 {
		t.Errorf("%d leases fell back to a replica's own pace", fallbacks)
	}
	t.Logf("%d conflicting writes retried", conflicts)
}

// A slow pace (Crawl-delay 20 s) leased by five replicas at once, three
// times each, runs 300 s ahead of now: far past 10 s, yet every slot is
// still an interval after the one before (a key ahead of a fixed bound
// was once started over, and gave the fourth lease a slot at once).
func TestLeasesOfManyReplicasAtASlowPaceNeverOverlap(t *testing.T) {
	fleets, _ := newFleets(t, 5, Config{})
	const interval = 20 * time.Second
	var mu sync.Mutex
	var all []time.Time
	var wg sync.WaitGroup
	for _, f := range fleets {
		wg.Go(func() {
			for range 3 {
				got := f.lease(context.Background(), "host slow.example:80", 0.05, 1, 1)
				mu.Lock()
				all = append(all, got...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(all) != 15 {
		t.Fatalf("%d slots, want 15", len(all))
	}
	slices.SortFunc(all, time.Time.Compare)
	for i := 1; i < len(all); i++ {
		if gap := all[i].Sub(all[i-1]); gap < interval {
			t.Fatalf("slots %d and %d are %s apart, want at least %s", i-1, i, gap, interval)
		}
	}
	for _, f := range fleets {
		if n := f.Stats().Fallbacks; n != 0 {
			t.Errorf("%d leases fell back to a replica's own pace", n)
		}
	}
}

// GCRA gives a quiet host's bucket at once, then one an interval.
func TestGCRASpendsTheBurstFirst(t *testing.T) {
	now := time.Unix(1000, 0)
	got, next := gcra(time.Time{}, now, time.Second, 3, 5)
	want := []time.Time{now, now, now, now.Add(time.Second), now.Add(2 * time.Second)}
	if !slices.EqualFunc(got, want, time.Time.Equal) || !next.Equal(now.Add(5*time.Second)) {
		t.Errorf("gcra: %v then %v, want %v then %v", got, next, want, now.Add(5*time.Second))
	}
}

// Attack: a publisher naming thousands of hosts does not grow the bucket
// past its cap: leases past it come from the replica's own pace (no
// stall), and every key written carries a TTL so it goes when idle.
func TestThousandsOfHostsStayWithinTheBucket(t *testing.T) {
	fleets, _ := newFleets(t, 1, Config{MaxBytes: 64 << 10})
	f := fleets[0]
	for i := range 3000 {
		if got := f.lease(context.Background(), fmt.Sprintf("host h%d.example:443", i), 1, 1, 1); len(got) != 1 {
			t.Fatalf("host %d: %d slots, want 1", i, len(got))
		}
	}
	info, err := f.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Bytes > 64<<10 {
		t.Errorf("bucket holds %d bytes, over its cap of 64 KiB", info.State.Bytes)
	}
	if f.Stats().Fallbacks == 0 {
		t.Error("no lease fell back although the bucket was full")
	}
	msg, err := f.stream.GetLastMsgForSubject(context.Background(), f.prefix+kvKey("pace", "host h1.example:443"))
	if err != nil {
		t.Fatal(err)
	}
	if ttl := msg.Header.Get("Nats-TTL"); ttl == "" {
		t.Errorf("a pace key has no TTL (headers %v)", msg.Header)
	}
}

// Attack: values another writer spoiled neither crash nor stall a
// replica: a pace that does not decode, or lies an hour ahead, is read as
// aheadBound ahead (a delay, never a reset that would let slots overlap); a pause of an hour is cut to MaxHostPause; a pause naming another
// host than its key's, or not JSON, is ignored; a robots.txt copy that
// does not decode or is over the size cap is fetched again.
func TestSpoiledValuesAreNotTrusted(t *testing.T) {
	fleets, js := newFleets(t, 1, Config{MaxHostPause: 3 * time.Second})
	f := fleets[0]
	ctx := context.Background()
	put := func(key string, value []byte) {
		t.Helper()
		if _, err := js.Publish(ctx, f.prefix+key, value); err != nil {
			t.Fatal(err)
		}
	}
	put(kvKey("pace", "host a"), []byte("{not json"))
	ahead, _ := json.Marshal(paceValue{Next: time.Now().Add(time.Hour).UnixNano()})
	put(kvKey("pace", "host b"), ahead)
	for _, key := range []string{"host a", "host b"} {
		before := time.Now()
		got := f.lease(ctx, key, 10, 1, 2)
		// Clamped to the bound, never started over: a lie only delays.
		bound := aheadBound(100 * time.Millisecond)
		if len(got) != 2 || got[0].Before(before.Add(bound)) || got[1].After(time.Now().Add(bound+time.Second)) {
			t.Errorf("%s: slots %v, want two from %s after %v on", key, got, bound, before)
		}
	}

	long, _ := json.Marshal(pauseValue{Host: "h.example:80", Until: time.Now().Add(time.Hour).UnixNano(), By: strings.Repeat("x", 500)})
	put(kvKey("pause", "other.example:80"), long) // names another host than its key's
	put(kvKey("pause", "h.example:80"), []byte("garbage"))
	put(kvKey("pause", "h.example:80"), long)
	select {
	case e := <-f.Events():
		if e.Host != "h.example:80" || time.Until(e.PausedUntil) > 3*time.Second || len(e.PausedBy) > maxPauseBy {
			t.Errorf("pause event %+v: want h.example:80 for at most 3s, by at most %d bytes", e, maxPauseBy)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the pause was not delivered")
	}
	select {
	case e := <-f.Events():
		t.Errorf("a spoiled pause was delivered: %+v", e)
	case <-time.After(300 * time.Millisecond):
	}

	origin := "http://r.example:80"
	fetches := 0
	fetch := func() polite.RobotsFetch {
		fetches++
		return polite.RobotsFetch{Status: 200, Body: []byte("User-agent: *\nDisallow: /x\n")}
	}
	putRobots := func(key string, value []byte) {
		t.Helper()
		if _, err := js.Publish(ctx, f.robotsPrefix+key, value); err != nil {
			t.Fatal(err)
		}
	}
	putRobots(kvKey("robots", origin), []byte("{]"))
	if r := f.Robots(ctx, origin, time.Hour, fetch); r.Status != 200 || fetches != 1 {
		t.Errorf("spoiled copy: %+v after %d fetches, want the site's own after 1", r, fetches)
	}
	huge, _ := json.Marshal(robotsValue{Origin: origin, Status: 200, Body: make([]byte, maxRobotsBody+1), FetchedAt: time.Now().UnixNano()})
	putRobots(kvKey("robots", origin), huge)
	if f.Robots(ctx, origin, time.Hour, fetch); fetches != 2 {
		t.Errorf("a copy over the size cap was trusted (%d fetches, want 2)", fetches)
	}
	if r := f.Robots(ctx, origin, time.Hour, fetch); fetches != 2 || r.Status != 200 || r.Failure != "" {
		t.Errorf("the good copy: %+v after %d fetches, want it from the bucket", r, fetches)
	}
}

// Attack: a publisher naming many sites leaves nothing for ever: after
// Robots (a fetch, and a copy found while the lock was taken), each
// site's lock subject holds nothing, or a marker with a TTL (a delete
// marker without one once filled the bucket at some 400k sites).
func TestRobotsLockLeavesNothingWithoutTTL(t *testing.T) {
	fleets, js := newFleets(t, 1, Config{})
	f := fleets[0]
	ctx := context.Background()
	fetch := func() polite.RobotsFetch { return polite.RobotsFetch{Status: 404} }
	for i := range 5 {
		origin := fmt.Sprintf("https://s%d.example:443", i)
		f.Robots(ctx, origin, time.Hour, fetch)
		f.Robots(ctx, origin, time.Hour, fetch) // from the copy: no lock
	}
	stream, err := js.Stream(ctx, "KV_"+RobotsBucket("test.fleet"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		subject := f.robotsPrefix + kvKey("robotslock", fmt.Sprintf("https://s%d.example:443", i))
		msg, err := stream.GetLastMsgForSubject(ctx, subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if msg.Header.Get("Nats-TTL") == "" {
			t.Errorf("site %d: the lock subject holds %q (headers %v) without a TTL", i, msg.Data, msg.Header)
		}
	}
	// Released, not just left to expire: another replica takes it at once.
	if _, err := f.robots.Create(ctx, kvKey("robotslock", "https://s0.example:443"), []byte("r1"), jetstream.KeyTTL(time.Minute)); err != nil {
		t.Errorf("the lock was not let go: %v", err)
	}
}

// Waiters on another replica's robots.txt fetch get its copy; a canceled
// fetch is not shared.
func TestRobotsFetchedOnceForWaiters(t *testing.T) {
	fleets, _ := newFleets(t, 3, Config{})
	origin := "https://s.example:443"
	var mu sync.Mutex
	fetches := 0
	fetch := func() polite.RobotsFetch {
		mu.Lock()
		fetches++
		mu.Unlock()
		time.Sleep(200 * time.Millisecond)
		return polite.RobotsFetch{Status: 404}
	}
	var wg sync.WaitGroup
	for _, f := range fleets {
		wg.Go(func() {
			if r := f.Robots(context.Background(), origin, time.Hour, fetch); r.Status != 404 {
				t.Errorf("robots.txt %+v, want the 404", r)
			}
		})
	}
	wg.Wait()
	if fetches != 1 {
		t.Errorf("%d fetches for three replicas, want 1", fetches)
	}
	canceled := fleets[0].Robots(context.Background(), "https://c.example:443", time.Hour,
		func() polite.RobotsFetch { return polite.RobotsFetch{Failure: wire.ErrCanceled} })
	if _, ok := fleets[1].freshRobots(context.Background(), kvKey("robots", "https://c.example:443"), "https://c.example:443", time.Hour); ok || canceled.Failure != wire.ErrCanceled {
		t.Error("a canceled robots.txt fetch was shared")
	}
}

var _ engine.Fleet = (*Fleet)(nil)

// A stage paced by the fleet finishes at any rate: at a million a second
// per host a slot is late by the time its lease comes back (a round trip
// is far longer than an interval), and the slots are spent all the same,
// not dropped and leased again for ever.
func TestStageWithFleetFinishesAtAnyRate(t *testing.T) {
	fleets, _ := newFleets(t, 1, Config{MaxHostPause: time.Minute})
	stage, err := engine.NewFetch(t.Context(), instant{}, engine.FetchConfig{Concurrency: 16, Window: 64, MaxActive: 16,
		PerHostRate: 1e6, MaxHostPause: time.Minute, Fleet: fleets[0]})
	if err != nil {
		t.Fatal(err)
	}
	urls := make([]string, 200)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://h%d.example.com/x", i%16)
	}
	go func() {
		for i := range 10 {
			stage.In() <- &stages.Job{ID: fmt.Sprint(i), Flow: fmt.Sprint(i), Requests: wire.URLs(urls...), Timeout: time.Second, Start: time.Now()}
		}
		close(stage.In())
	}()
	n := 0
	timeout := time.After(30 * time.Second)
	for {
		select {
		case element, ok := <-stage.Out():
			if !ok {
				if n != 2000 {
					t.Fatalf("%d results, want 2000", n)
				}
				return
			}
			if _, ok := element.(*stages.Fetched); ok {
				n++
			}
		case <-timeout:
			t.Fatalf("%d results of 2000 after 30s: the stage stalled on its leases", n)
		}
	}
}

// A slow-down one replica saw reaches the others, not itself; one that
// another writer spoiled, or that is old, does not.
func TestSlowDownReachesTheOthers(t *testing.T) {
	fleets, js := newFleets(t, 2, Config{MaxHostPause: time.Minute})
	old, _ := json.Marshal(pauseValue{Host: "old.example:80", Until: time.Now().Add(-time.Minute).UnixNano(), By: "r9"})
	if _, err := js.Publish(context.Background(), fleets[0].prefix+kvKey("slow", "old.example:80"), old); err != nil {
		t.Fatal(err)
	}
	fleets[0].SlowDown("s.example:80")
	select {
	case e := <-fleets[1].Events():
		if e.Host != "s.example:80" || !e.SlowedDown {
			t.Errorf("event %+v, want the slow-down of s.example:80", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the slow-down did not reach the other replica")
	}
	select {
	case e := <-fleets[0].Events():
		t.Errorf("the replica that saw it, or an old one, was told: %+v", e)
	case e := <-fleets[1].Events():
		t.Errorf("another event: %+v", e)
	case <-time.After(300 * time.Millisecond):
	}
}

// Attack: a batch ruling thousands of hosts makes at most leaseWorkers
// leases at once (once, a goroutine and a bus round trip each, all at
// once), and every key asked is answered, once, even when asked again
// while it waited.
func TestLeasesInFlightAreBounded(t *testing.T) {
	fleets, _ := newFleets(t, 1, Config{})
	f := fleets[0]
	const hosts = 2000
	before := runtime.NumGoroutine()
	for i := range hosts {
		f.Lease(fmt.Sprintf("host h%d.example:443", i), 5, 1, 1)
		f.Lease(fmt.Sprintf("host h%d.example:443", i), 5, 1, 2)
	}
	if grown := runtime.NumGoroutine() - before; grown > leaseWorkers {
		t.Errorf("%d goroutines more after %d leases asked, want at most %d", grown, hosts, leaseWorkers)
	}
	// A key taken before its second ask came is answered twice; the
	// others once, with the later ask's 2 slots.
	answered, answers := map[string]int{}, 0
	deadline := time.After(60 * time.Second)
	for len(answered) < hosts {
		select {
		case e := <-f.Events():
			answers++
			if answered[e.Key]++; answered[e.Key] > 2 {
				t.Fatalf("%s answered three times", e.Key)
			}
		case <-deadline:
			t.Fatalf("%d of %d keys answered", len(answered), hosts)
		}
	}
	for quiet := false; !quiet; {
		select {
		case e := <-f.Events():
			answers++
			if answered[e.Key]++; answered[e.Key] > 2 {
				t.Fatalf("%s answered three times", e.Key)
			}
		case <-time.After(300 * time.Millisecond):
			quiet = true
		}
	}
	if answers >= 2*hosts {
		t.Errorf("%d answers to %d asks for %d keys: none was merged with the ask waiting", answers, 2*hosts, hosts)
	}
	t.Logf("%d answers to %d asks", answers, 2*hosts)
}

// A replica's own pace (when the bucket fails) forgets keys long past,
// sweeping at most once a sweepEvery, not on every lease.
func TestLocalPacesSweepAtMostOnceASecond(t *testing.T) {
	var p localPaces
	t0 := time.Unix(1000, 0)
	p.spend("a", t0, time.Second, 1, 1)
	p.next["old"] = t0.Add(-time.Hour)
	p.spend("b", t0.Add(sweepEvery/2), time.Second, 1, 1)
	if _, ok := p.next["old"]; !ok {
		t.Error("swept twice within a second")
	}
	p.spend("c", t0.Add(sweepEvery), time.Second, 1, 1)
	if _, ok := p.next["old"]; ok {
		t.Error("a key long past was not swept after a second")
	}
	if len(p.next) != 3 {
		t.Errorf("%d keys, want a, b and c", len(p.next))
	}
}

// Attack: robots.txt copies of 512 KiB for many sites fill the robots
// bucket, not the paces': leases still come from the fleet, and the
// copies refused are logged once, not once per site.
func TestRobotsCopiesDoNotCrowdOutPaces(t *testing.T) {
	var logs syncBuffer
	fleets, _ := newFleets(t, 1, Config{MaxBytes: 256 << 10, RobotsMaxBytes: 2 << 20, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	f := fleets[0]
	ctx := context.Background()
	big := polite.RobotsFetch{Status: 200, Body: make([]byte, maxRobotsBody)}
	for i := range 8 {
		f.Robots(ctx, fmt.Sprintf("https://w%d.example:443", i), time.Hour, func() polite.RobotsFetch { return big })
	}
	for i := range 20 {
		if got := f.lease(ctx, fmt.Sprintf("host p%d.example:443", i), 10, 1, 1); len(got) != 1 {
			t.Fatalf("lease %d: %d slots", i, len(got))
		}
	}
	if n := f.Stats().Fallbacks; n != 0 {
		t.Errorf("%d leases fell back after the robots bucket filled", n)
	}
	if n := strings.Count(logs.String(), "could not be shared"); n != 1 {
		t.Errorf("refused copies logged %d times, want once:\n%s", n, logs.String())
	}
}

// When the bucket refuses leases (full), a replica paces a host on its
// own at the fleet's rate divided by the replicas it counted, and says
// so once per change of state, not per lease nor once per process.
func TestFallbackPacesAtTheFleetsShare(t *testing.T) {
	var logs syncBuffer
	fleets, _ := newFleets(t, 3, Config{MaxBytes: 64 << 10, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	f := fleets[0]
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for f.Stats().Replicas != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d replicas counted, want 3", f.Stats().Replicas)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := 0; f.Stats().Fallbacks == 0; i++ { // fill the bucket
		if i > 5000 {
			t.Fatal("the bucket never refused a lease")
		}
		f.lease(ctx, fmt.Sprintf("host fill%d.example:443", i), 1, 1, 1)
	}
	got := f.lease(ctx, "host new.example:443", 10, 1, 3)
	for i := 1; i < len(got); i++ {
		if gap := got[i].Sub(got[i-1]); gap < 300*time.Millisecond {
			t.Errorf("fallback slots %s apart, want 300ms (10/s over 3 replicas)", gap)
		}
	}
	f.lease(ctx, "host new2.example:443", 10, 1, 1)
	if err := f.stream.Purge(ctx); err != nil { // the bucket answers again
		t.Fatal(err)
	}
	f.lease(ctx, "host new3.example:443", 10, 1, 1)
	out := logs.String()
	if n := strings.Count(out, "a lease failed"); n != 1 {
		t.Errorf("the fallback was logged %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "gives leases again") {
		t.Errorf("the return to the fleet's leases was not logged:\n%s", out)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Attack: replica keys a spoiler wrote count at most maxCounted, and a
// count cut short there leaves no goroutine behind.
func TestReplicaCountIsBounded(t *testing.T) {
	fleets, js := newFleets(t, 1, Config{})
	f := fleets[0]
	ctx := context.Background()
	for i := range maxCounted + 300 {
		if _, err := js.Publish(ctx, f.prefix+kvKey("replica", fmt.Sprintf("spoiler%d", i)), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	subject := f.prefix + kvKey("replica", f.cfg.Replica)
	f.beat(subject)
	time.Sleep(200 * time.Millisecond)
	before := runtime.NumGoroutine()
	for range 5 {
		f.beat(subject)
	}
	if got := f.Stats().Replicas; got != maxCounted {
		t.Errorf("%d replicas counted, want the bound %d", got, maxCounted)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after 5 counts cut short, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
