package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/wire"
)

func TestCapShare(t *testing.T) {
	live := func(held, want int) capEntry { return capEntry{Held: held, Want: want} }
	for _, c := range []struct {
		name              string
		limit             int
		others            capValue
		want, inFlight    int
		useWant, holdWant int
	}{
		{"alone takes what it wants", 2, nil, 5, 0, 2, 2},
		{"alone wants less", 4, nil, 1, 0, 1, 1},
		{"nothing wanted, nothing held", 2, nil, 0, 0, 0, 0},
		{"others hold all", 2, capValue{"a": live(2, 2)}, 3, 0, 0, 0},
		{"takes the rest others leave", 3, capValue{"a": live(1, 1)}, 5, 0, 2, 2},
		{"a starved other caps it at the fair share", 2, capValue{"a": live(0, 4)}, 5, 0, 1, 1},
		{"shrinking holds what is in flight", 2, capValue{"a": live(0, 4)}, 5, 2, 1, 2},
		{"three wanting a cap of 2: one each, a third waits", 2, capValue{"a": live(1, 3), "b": live(0, 3)}, 3, 1, 1, 1},
		{"a satisfied other does not cap it", 4, capValue{"a": live(1, 1)}, 9, 0, 3, 3},
		{"demand falls: the permits go back", 2, nil, 0, 0, 0, 0},
		{"in flight above the cap is held as the cap", 2, nil, 9, 7, 2, 2},
		{"no cap", 0, nil, 3, 0, 0, 0},
		{"negative demand", 2, nil, -3, -1, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			use, hold := capShare(c.limit, c.others, c.want, c.inFlight)
			if use != c.useWant || hold != c.holdWant {
				t.Errorf("capShare = use %d, hold %d; want %d, %d", use, hold, c.useWant, c.holdWant)
			}
		})
	}
	if got := fallbackShare(5, 2); got != 2 {
		t.Errorf("fallbackShare(5, 2) = %d, want 2", got)
	}
	if got := fallbackShare(2, 3); got != 1 {
		t.Errorf("fallbackShare(2, 3) = %d, want 1 (at least one)", got)
	}
}

// Entries that passed, that hold less than none or more than the cap,
// and the reader's own, are not trusted as written; one that claims to
// count far ahead counts for capLife at most, and one a little ahead (the
// writer's clock runs fast) counts.
func TestLiveOthersDropsDeadAndSpoiledEntries(t *testing.T) {
	now := time.Now()
	soon := now.Add(time.Second).UnixNano()
	latest := now.Add(capLife).UnixNano()
	v := capValue{
		"me":      {Held: 2, Want: 2, Until: soon},
		"dead":    {Held: 2, Want: 2, Until: now.Add(-time.Millisecond).UnixNano()},
		"forever": {Held: 2, Want: 2, Until: now.Add(time.Hour).UnixNano()},
		"ahead":   {Held: 1, Want: 1, Until: now.Add(capLife + 5*time.Millisecond).UnixNano()},
		"greedy":  {Held: 1 << 40, Want: 1 << 40, Until: soon},
		"owing":   {Held: -5, Want: -1, Until: soon},
	}
	got := liveOthers(v, "me", 2, now)
	want := capValue{
		"forever": {Held: 2, Want: 2, Until: latest},
		"ahead":   {Held: 1, Want: 1, Until: latest},
		"greedy":  {Held: 2, Want: 2, Until: soon},
		"owing":   {Held: 0, Want: 0, Until: soon},
	}
	if len(got) != len(want) {
		t.Errorf("liveOthers = %v, want %v", got, want)
	}
	for replica, e := range want {
		if got[replica] != e {
			t.Errorf("liveOthers[%s] = %+v, want %+v", replica, got[replica], e)
		}
	}
	if decodeCap([]byte("not json")) != nil || decodeCap([]byte(`[1,2]`)) != nil {
		t.Error("a value that does not decode as entries was trusted")
	}
}

// awaitGrant reads f's events until host is granted permits, within 10 s
// (other events are dropped): the last grant seen then.
func awaitGrant(t *testing.T, f *Fleet, host string, permits int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	last := -1
	for {
		select {
		case e := <-f.Events():
			if e.Granted && e.Host == host {
				if last = e.Permits; last == permits {
					return
				}
			}
		case <-deadline:
			t.Fatalf("%s was not granted %d permits within 10 s; the last grant: %d", host, permits, last)
		}
	}
}

// Three replicas asking at once for a cap of 2 never hold more than 2
// together, whatever they want: the writes are conditional on the
// revision read.
func TestCapOfReplicasNeverExceedsTheCap(t *testing.T) {
	fleets, _ := newFleets(t, 3, Config{})
	for range 10 {
		var mu sync.Mutex
		total := 0
		var wg sync.WaitGroup
		for _, f := range fleets {
			wg.Go(func() {
				use, _, _, err := f.writeCap(context.Background(), "a.example:80", 2, 5, 0)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				total += use
				mu.Unlock()
			})
		}
		wg.Wait()
		if total > 2 || total == 0 {
			t.Fatalf("the replicas were granted %d permits of a cap of 2 together", total)
		}
		for _, f := range fleets { // all give back: the next round starts empty
			if _, _, _, err := f.writeCap(context.Background(), "a.example:80", 2, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A replica that stops refreshing its entry (it died) holding the whole
// cap gives it back within capLife: the one that wants it gets it.
func TestCapOfADeadReplicaComesBack(t *testing.T) {
	fleets, js := newFleets(t, 1, Config{})
	f := fleets[0]
	ghost, _ := json.Marshal(capValue{"ghost": {Held: 2, Want: 9, Until: time.Now().Add(capLife).UnixNano()}})
	if _, err := js.Publish(context.Background(), f.prefix+kvKey("cap", "a.example:80"), ghost); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	f.Demand("a.example:80", 2, 0, 4, 0)
	awaitGrant(t, f, "a.example:80", 0)
	awaitGrant(t, f, "a.example:80", 2)
	if took := time.Since(began); took < capLife/2 {
		t.Errorf("the permits came back after %s, before the dead replica's entry ran out", took)
	}
}

// A cap key spoiled by another writer (not JSON, or an entry that claims
// the cap for an hour) neither stops nor starves a replica for longer
// than capLife: it is written over with the replica's own entry.
func TestCapSpoiledValueIsWrittenOver(t *testing.T) {
	for _, spoiled := range []string{"not json", `{"hostile":{"held":2,"want":2,"until":9000000000000000000}}`} {
		fleets, js := newFleets(t, 1, Config{})
		f := fleets[0]
		subject := f.prefix + kvKey("cap", "b.example:80")
		if _, err := js.Publish(context.Background(), subject, []byte(spoiled)); err != nil {
			t.Fatal(err)
		}
		f.Demand("b.example:80", 2, 0, 3, 0)
		awaitGrant(t, f, "b.example:80", 2)
		msg, err := f.stream.GetLastMsgForSubject(context.Background(), subject)
		if err != nil {
			t.Fatal(err)
		}
		if v := decodeCap(msg.Data); v["r0"].Held != 2 || len(v) != 1 {
			t.Errorf("the key holds %s after the round, want this replica's entry alone", msg.Data)
		}
		if f.Stats().CapFallbacks != 0 {
			t.Errorf("%d cap shares were made locally, want none", f.Stats().CapFallbacks)
		}
	}
}

// When the bucket is gone the replica keeps a share of its own, the cap
// over the replicas it knew of, and says so; and when it is back, the
// cap is shared again, and it says that too.
func TestCapWithoutTheBucketFallsBackToAShare(t *testing.T) {
	var logs syncBuffer
	cfg := Config{Log: slog.New(slog.NewTextHandler(&logs, nil))}
	fleets, js := newFleets(t, 1, cfg)
	f := fleets[0]
	f.capReplicas.Store(2)
	if err := js.DeleteKeyValue(context.Background(), Bucket("test.fleet")); err != nil {
		t.Fatal(err)
	}
	f.Demand("c.example:80", 4, 0, 9, 0)
	awaitGrant(t, f, "c.example:80", 2)
	if f.Stats().CapFallbacks == 0 {
		t.Error("no cap share was counted as made locally")
	}
	cfg.Name, cfg.Replica = "test.fleet", "r1"
	if _, err := New(t.Context(), js, cfg); err != nil { // makes the bucket anew
		t.Fatal(err)
	}
	f.Demand("c.example:80", 4, 0, 8, 0)
	awaitGrant(t, f, "c.example:80", 4)
	if left, back := strings.Count(logs.String(), "could not be shared"), strings.Count(logs.String(), "answers again"); left != 1 || back != 1 {
		t.Errorf("falling back logged %d times and coming back %d, want once each:\n%s", left, back, logs.String())
	}
}

// A publisher that spreads its URLs over hundreds of capped hosts gets
// each its permits all the same: the rounds for them run side by side,
// and none waits on the others for long.
func TestCapManyHostsAreAllGranted(t *testing.T) {
	fleets, _ := newFleets(t, 1, Config{})
	f := fleets[0]
	const hosts = 300
	for i := range hosts {
		f.Demand(fmt.Sprintf("h%d.example:80", i), 2, 0, 1, 0)
	}
	granted := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for len(granted) < hosts {
		select {
		case e := <-f.Events():
			if e.Granted && e.Permits == 1 {
				granted[e.Host] = true
			}
		case <-deadline:
			t.Fatalf("%d of %d hosts were granted their permit within 20 s", len(granted), hosts)
		}
	}
}

// hanging answers a URL only when its context ends.
type hanging struct{}

func (hanging) Do(ctx context.Context, req wire.Request, _ *wire.RequestOptions, _ time.Duration) wire.Result {
	<-ctx.Done()
	return wire.Result{URL: req.URL, Error: "timeout"}
}

// A stage whose hosts the fleet caps finishes its batches, whether they
// end (instant) or expire with URLs still waiting for their host
// (hanging), and then, running on, holds no permits: its entries leave
// the cap keys.
func TestStageWithFleetCapGivesPermitsBack(t *testing.T) {
	for _, c := range []struct {
		name    string
		fetcher engine.URLFetcher
		urls    int
	}{{"batches end", instant{}, 200}, {"batches expire", hanging{}, 20}} {
		t.Run(c.name, func(t *testing.T) {
			fleets, _ := newFleets(t, 1, Config{})
			f := fleets[0]
			stage, err := engine.NewFetch(t.Context(), c.fetcher, engine.FetchConfig{Concurrency: 16, Window: 64, MaxActive: 16,
				PerHost: 2, MaxBatchTime: time.Second, Fleet: f})
			if err != nil {
				t.Fatal(err)
			}
			urls := make([]string, c.urls)
			for i := range urls {
				urls[i] = fmt.Sprintf("http://h%d.example.com/x", i%4)
			}
			go func() {
				for i := range 5 {
					stage.In() <- &stages.Job{ID: fmt.Sprint(i), Flow: fmt.Sprint(i), Requests: wire.URLs(urls...), Timeout: 10 * time.Second, Start: time.Now()}
				}
			}()
			results := make(chan struct{}, 5*c.urls)
			go func() {
				for element := range stage.Out() {
					if _, fetched := element.(*stages.Fetched); fetched {
						results <- struct{}{}
					}
				}
			}()
			defer close(stage.In())
			timeout := time.After(30 * time.Second)
			for n := range 5 * c.urls {
				select {
				case <-results:
				case <-timeout:
					t.Fatalf("%d results of %d after 30 s", n, 5*c.urls)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for held := heldPermits(t, f); held != ""; held = heldPermits(t, f) {
				if time.Now().After(deadline) {
					t.Fatalf("10 s after its batches ended the replica still holds %s", held)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// heldPermits names a cap key where f's replica has an entry ("": none).
func heldPermits(t *testing.T, f *Fleet) string {
	t.Helper()
	keys, err := f.kv.ListKeysFiltered(context.Background(), "cap.>")
	if err != nil {
		t.Fatal(err)
	}
	for key := range keys.Keys() {
		entry, err := f.kv.Get(context.Background(), key)
		if err != nil {
			continue // gone since it was listed
		}
		if e, ok := decodeCap(entry.Value())[f.cfg.Replica]; ok {
			return fmt.Sprintf("%s: %+v", key, e)
		}
	}
	return ""
}

// awaitGrantEvent reads f's events until a grant for host of permits
// comes, within 10 s, and returns it.
func awaitGrantEvent(t *testing.T, f *Fleet, host string, permits int) engine.FleetEvent {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-f.Events():
			if e.Granted && e.Host == host && e.Permits == permits {
				return e
			}
		case <-deadline:
			t.Fatalf("%s was not granted %d permits within 10 s", host, permits)
		}
	}
}

// Permits taken back stay written as held until the dispatcher has seen
// the grant that takes them back: before, it may still start requests on
// them, and another replica must not have them yet.
func TestCapTakenBackIsHeldUntilSeen(t *testing.T) {
	fleets, _ := newFleets(t, 1, Config{})
	f := fleets[0]
	const host = "d.example:80"
	f.Demand(host, 2, 0, 2, 0)
	two := awaitGrantEvent(t, f, host, 2)
	f.Demand(host, 2, 0, 0, two.Grant) // its demand fell to nothing
	none := awaitGrantEvent(t, f, host, 0)
	if held := heldPermits(t, f); !strings.Contains(held, "Held:2") {
		t.Fatalf("before the grant of 0 was seen the entry is %q, want 2 held", held)
	}
	f.Demand(host, 2, 0, 0, none.Grant)
	deadline := time.Now().Add(5 * time.Second)
	for held := heldPermits(t, f); held != ""; held = heldPermits(t, f) {
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the grant of 0 was seen the replica still holds %s", held)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A replica whose clock runs a second ahead has its entry counted and
// kept by the others' rounds right after its write: the reader does not
// take the permits it holds, nor delete its entry when it writes its own.
func TestCapEntryOfAFastClockCounts(t *testing.T) {
	fleets, js := newFleets(t, 1, Config{})
	f := fleets[0]
	subject := f.prefix + kvKey("cap", "e.example:80")
	ahead, _ := json.Marshal(capValue{"fast": {Held: 2, Want: 2, Until: time.Now().Add(capLife + time.Second).UnixNano()}})
	if _, err := js.Publish(context.Background(), subject, ahead); err != nil {
		t.Fatal(err)
	}
	use, _, _, err := f.writeCap(context.Background(), "e.example:80", 2, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if use != 0 {
		t.Errorf("the reader took %d permits of a cap of 2 the fast replica holds", use)
	}
	msg, err := f.stream.GetLastMsgForSubject(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	if v := decodeCap(msg.Data); v["fast"].Held != 2 || v["r0"].Want != 2 {
		t.Errorf("the key holds %s after the reader's round, want both entries", msg.Data)
	}
}

// awaitNoneHeld waits up to 10 s for f's entries to be gone from every
// cap key.
func awaitNoneHeld(t *testing.T, f *Fleet, why string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for held := heldPermits(t, f); held != ""; held = heldPermits(t, f) {
		if time.Now().After(deadline) {
			t.Fatalf("10 s after %s the replica still holds %s", why, held)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A grant the dispatcher never sees (its gate was swept before it came)
// does not hold the host's permits for good: once it wants nothing and
// has nothing in flight, the entry goes within about capLife.
func TestCapGrantNeverSeenIsReleased(t *testing.T) {
	fleets, _ := newFleets(t, 1, Config{})
	f := fleets[0]
	const host = "f.example:80"
	f.Demand(host, 2, 0, 2, 0)
	awaitGrantEvent(t, f, host, 2)
	f.Demand(host, 2, 0, 0, 0) // the gate is gone: the grant is never seen
	awaitNoneHeld(t, f, "the demand fell to nothing")
}

// A dispatcher that forgets a host's gate says so: the permits of grants
// it never saw stop counting at once, and the entry goes.
func TestCapForgottenGateGivesPermitsBack(t *testing.T) {
	fleets, _ := newFleets(t, 1, Config{})
	f := fleets[0]
	const host = "g.example:80"
	f.Demand(host, 2, 0, 2, 0)
	awaitGrantEvent(t, f, host, 2)
	f.Demand(host, 2, 0, 0, engine.GateForgotten)
	f.mu.Lock()
	ceiling := 0
	if d := f.caps[host]; d != nil {
		ceiling = d.ceiling
	}
	f.mu.Unlock()
	if ceiling != 0 {
		t.Errorf("after the gate was forgotten %d permits still count as usable", ceiling)
	}
	awaitNoneHeld(t, f, "the gate was forgotten")
}
