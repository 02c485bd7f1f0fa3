package service

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// Batches that would expand past their bounds or pace their hosts
// forever (or not at all) are refused as invalid_batch before any
// request, each summary saying what to change, while a canary to
// another host is answered promptly: 30,000 default headers over 1,500
// URLs (46 s of CPU and 1.3 GB before), 90 default headers of 5 KB over
// 10,000 URLs (4.5 GB of headers), and per_host_rate 1e-9 and 1e-300.
func TestBatchBoundsEndToEnd(t *testing.T) {
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	target := fetchtest.NewCounter(t, "127.0.0.1:0")
	neighbour := fetchtest.NewCounter(t, "127.0.0.2:0")
	start(t, natsURL, nil)
	summaries := loadtest.Subscribe(t, nc, wire.DefaultBatchesSubject)

	many := wire.Batch{ID: "many-headers", RequestOptions: wire.RequestOptions{Headers: map[string]string{}}}
	for i := range 30000 {
		many.Headers[fmt.Sprintf("X-%d", i)] = "v"
	}
	many.URLs = urlsOn(target.URL, 1500)
	wide := wire.Batch{ID: "wide-headers", RequestOptions: wire.RequestOptions{Headers: map[string]string{}}}
	for i := range 90 {
		wide.Headers[fmt.Sprintf("X-%d", i)] = strings.Repeat("v", 5000)
	}
	wide.URLs = urlsOn(target.URL, 10000)
	want := map[string]string{
		"many-headers": "30000 default headers, more than the 100",
		"wide-headers": "--max-batch-expansion",
		"slow":         "per_host_rate must be from 0.01 to 10000",
		"tiny":         "per_host_rate must be from 0.01 to 10000",
	}
	for _, b := range []wire.Batch{many, wide,
		{ID: "slow", PerHostRate: 1e-9, URLs: urlsOn(target.URL, 2)},
		{ID: "tiny", PerHostRate: 1e-300, URLs: urlsOn(target.URL, 2)},
	} {
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(wire.DefaultInSubject, data); err != nil {
			t.Fatalf("%s (%d bytes): %v", b.ID, len(data), err)
		}
	}
	took := loadtest.Canary(t, nc, wire.DefaultInSubject, neighbour.URL+"/", loadtest.CanaryBudget)
	t.Logf("canary answered in %s", took)
	for range len(want) + 1 { // and the canary's
		var s wire.Summary
		summaries.Next(&s, 10*time.Second)
		if strings.HasPrefix(s.BatchID, "canary-") {
			continue
		}
		if s.Error != wire.ErrInvalidBatch || !strings.Contains(s.Message, want[s.BatchID]) {
			t.Errorf("batch %s: summary %s %q, want invalid_batch saying %q", s.BatchID, s.Error, s.Message, want[s.BatchID])
		}
		delete(want, s.BatchID)
	}
	if len(want) > 0 {
		t.Errorf("no summary for %v", want)
	}
	if n := target.Hits(); n != 0 {
		t.Errorf("%d requests to the attack's host, want none", n)
	}
}

// urlsOn is n URLs on the server at base.
func urlsOn(base string, n int) []wire.Request {
	urls := make([]wire.Request, n)
	for i := range urls {
		urls[i].URL = fmt.Sprintf("%s/%d", base, i)
	}
	return urls
}
