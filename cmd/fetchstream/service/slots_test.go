package service

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// gauge reads a gauge of the service's metrics, failing t when it has none.
func (s *testService) gauge(t *testing.T, name string) float64 {
	t.Helper()
	families, err := s.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

func publishBatch(t *testing.T, s interface{ Publish(string, []byte) error }, b wire.Batch) {
	t.Helper()
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(wire.DefaultInSubject, data); err != nil {
		t.Fatal(err)
	}
}

// The slot attack (issue 21): one message of 200 URLs to a server that
// accepts and never answers, with a minute's timeout, would hold all 64
// slots for a minute. With the default reserve it holds 64-1, and a
// one-URL batch to another host is answered at once meanwhile.
func TestOneBatchCannotTakeEverySlot(t *testing.T) {
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	neighbour := fetchtest.NewCounter(t, "127.0.0.2:0")
	start(t, natsURL, func(c *Config) { c.ShutdownGrace = 0 })
	urls := make([]string, 200)
	for i := range urls {
		urls[i] = target.URL("/hang")
	}
	publishBatch(t, nc, wire.Batch{ID: "hog", TimeoutMS: 60000, URLs: wire.URLs(urls...)})
	most := int64(Defaults().Fetch.Concurrency - engine.DefaultReserve(Defaults().Fetch.Concurrency))
	loadtest.WaitFor(t, 10*time.Second, "the batch to hold its slots", func() bool { return target.InFlight() == most })
	for range 3 {
		loadtest.Canary(t, nc, wire.DefaultInSubject, neighbour.URL+"/", loadtest.CanaryBudget)
	}
	if n := target.MaxInFlight(); n != most {
		t.Errorf("one batch had %d requests in flight at most, want %d", n, most)
	}
}

// The memory attack (issue 21), scaled down: batches of [one URL that
// hangs, many large bodies] would each hold a window of finished bodies
// behind the first. With --max-held-bytes the service holds at most the
// budget plus what the requests in flight and one first result per batch
// bring, a canary is answered meanwhile, and every batch ends once its
// first URL times out.
func TestMemoryStaysWithinTheHeldBudget(t *testing.T) {
	const (
		batches = 8
		bigs    = 100
		body    = 64 << 10
		budget  = 2 << 20
	)
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	hostile := fetchtest.NewHostile(t)
	neighbour := fetchtest.NewCounter(t, "127.0.0.2:0")
	s := start(t, natsURL, func(c *Config) {
		c.ShutdownGrace = 0
		c.Fetch.MaxHeldBytes = budget
		c.Fetch.MaxBody = body
		c.Fetch.BodyMode = "text" // the binary bodies are left out, but the UTF-8 ones are held
	})
	summaries := loadtest.Subscribe(t, nc, wire.DefaultBatchesSubject)
	for b := range batches {
		urls := []string{hostile.URL("/hang")}
		for i := range bigs {
			urls = append(urls, hostile.URL(fmt.Sprintf("/utf8/%d?b=%d", body, i)))
		}
		publishBatch(t, nc, wire.Batch{ID: fmt.Sprint("m", b), TimeoutMS: 3000, URLs: wire.URLs(urls...)})
	}
	loadtest.WaitFor(t, 10*time.Second, "the held bytes to reach the budget", func() bool {
		return s.gauge(t, "fetchstream_held_result_bytes") > budget
	})
	loadtest.Canary(t, nc, wire.DefaultInSubject, neighbour.URL+"/", loadtest.CanaryBudget)
	for n := 0; n < batches; {
		var sum wire.Summary
		summaries.Next(&sum, 30*time.Second)
		if strings.HasPrefix(sum.BatchID, "canary-") {
			continue
		}
		n++
		if sum.BatchID == "" || sum.Count != bigs+1 || sum.OK != bigs || sum.Errors[wire.ErrTimeout] != 1 {
			t.Errorf("summary %+v, want %d ok and the first URL's timeout", sum, bigs)
		}
	}
	concurrency := int64(Defaults().Fetch.Concurrency)
	maxResult := int64(body + len(hostile.URL("/utf8/65536?b=99")) + 512)
	peak := int64(s.gauge(t, "fetchstream_held_result_bytes_peak"))
	t.Logf("held %d bytes at most (budget %d); unbounded, the batches would hold %d", peak, budget, batches*bigs*maxResult)
	if peak > budget+(concurrency+batches)*maxResult {
		t.Errorf("held %d bytes at most, over the budget %d + (%d in flight + %d first results) × %d",
			peak, budget, concurrency, batches, maxResult)
	}
}
