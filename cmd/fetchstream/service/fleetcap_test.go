package service

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// delayBatch is n URLs to site's /delay/ms, told apart by a query.
func delayBatch(site *fetchtest.Target, id string, n, ms int) wire.Batch {
	urls := make([]string, n)
	for i := range urls {
		urls[i] = site.URL(fmt.Sprintf("/delay/%d?b=%s&i=%d", ms, id, i))
	}
	return wire.Batch{ID: id, URLs: wire.URLs(urls...)}
}

// Three replicas at --per-host 2 on one queue group, 6 batches to one
// slow host: the host never has more than 2 requests in flight from the
// fleet (per process, each replica with a batch would send it 2), and all
// 24 arrive.
func TestFleetHoldsOneCapForTheHost(t *testing.T) {
	ns, nc := natstest.Start(t)
	site := fetchtest.NewTarget(t)
	startReplicas(t, ns.ClientURL(), 3, false, func(c *Config) { c.Fetch.PerHost = 2 })
	subjects := slices.Repeat([]string{wire.DefaultInSubject}, 6)
	batches := make([]wire.Batch, 6)
	for i := range batches {
		batches[i] = delayBatch(site, fmt.Sprintf("c%d", i), 4, 300)
	}
	allOK(t, requestBatches(t, nc, subjects, batches), 4)
	if n := site.Requests(); n != 24 {
		t.Fatalf("%d requests arrived, want 24", n)
	}
	if most := site.MaxInFlight(); most > 2 {
		t.Errorf("the host had %d requests in flight at once, want at most 2 (the fleet's cap)", most)
	}
}

// One batch on one of three replicas uses the fleet's whole cap: both
// permits are in flight at once, not one (the cap divided by replicas).
func TestFleetGivesOneReplicaTheWholeCap(t *testing.T) {
	ns, nc := natstest.Start(t)
	site := fetchtest.NewTarget(t)
	startReplicas(t, ns.ClientURL(), 3, true, func(c *Config) { c.Fetch.PerHost = 2 })
	allOK(t, requestBatches(t, nc, []string{"fleet.1"}, []wire.Batch{delayBatch(site, "one", 10, 300)}), 10)
	if most := site.MaxInFlight(); most != 2 {
		t.Errorf("the host had at most %d requests in flight from the one replica with a batch, want 2 (the fleet's whole cap)", most)
	}
}

// A replica killed while it holds the whole cap: another's batch to the
// host goes on within a few seconds (its permits come back when its entry
// runs out), and the host never has more than the cap in flight.
func TestFleetReplicaKilledGivesItsCapBack(t *testing.T) {
	ns, nc := natstest.Start(t)
	site := fetchtest.NewTarget(t)
	replicas := startReplicas(t, ns.ClientURL(), 3, true, func(c *Config) { c.Fetch.PerHost, c.ShutdownGrace, c.Ops.MetricsAddr = 2, 0, "127.0.0.1:0" })
	go requestBatches(t, nc, []string{"fleet.0"}, []wire.Batch{delayBatch(site, "held", 20, 20000)})
	deadline := time.Now().Add(10 * time.Second)
	for site.InFlight() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("replica 0 had %d requests in flight after 10 s, want 2", site.InFlight())
		}
		time.Sleep(10 * time.Millisecond)
	}
	host := strings.TrimPrefix(site.URL(""), "http://")
	awaitMetric(t, opsAddr(replicas[0]), `fetchstream_fleet_host_permits{host="`+host+`"} 2`)
	replicas[0].stop()
	killed := time.Now()
	allOK(t, requestBatches(t, nc, []string{"fleet.1"}, []wire.Batch{delayBatch(site, "after", 4, 100)}), 4)
	took := time.Since(killed)
	t.Logf("the batch after the kill took %s", took)
	if took > 15*time.Second {
		t.Errorf("the batch after the kill took %s, want a few seconds", took)
	}
	if most := site.MaxInFlight(); most > 2 {
		t.Errorf("the host had %d requests in flight at once, want at most 2", most)
	}
}
