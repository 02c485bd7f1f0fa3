package service

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// A request-reply batch of 3 URLs published while a 400-URL crawl runs
// is answered after a few slot turnovers, not after the crawl: whether the
// crawl came as one batch or split over 50 correlated messages. The
// measure is how many crawl results were published before the reply
// (first come, first served would publish nearly all 400), which holds on
// a slow machine too; the timings live in the bench command.
func TestSmallRequestNotStuckBehindCrawl(t *testing.T) {
	for _, split := range []int{1, 50} {
		t.Run(fmt.Sprintf("crawl in %d messages", split), func(t *testing.T) {
			ns, nc := natstest.Start(t)
			url := ns.ClientURL()
			target := fetchtest.NewTarget(t)
			start(t, url, func(c *Config) { c.Fetch.Concurrency = 8 })
			var crawlResults atomic.Int64
			sub, err := nc.Subscribe(wire.DefaultResultsSubject, func(m *nats.Msg) {
				var r wire.Result
				if json.Unmarshal(m.Data, &r) == nil && r.BatchID != "small" {
					crawlResults.Add(1)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			urls := make([]string, 400)
			for i := range urls {
				urls[i] = target.URL("/delay/40")
			}
			// As publish splits a long list: correlated batches, or one whole.
			crawl := []wire.Batch{{ID: "crawl", URLs: wire.URLs(urls...)}}
			if size := len(urls) / split; split > 1 {
				crawl = crawl[:0]
				for i := range split {
					crawl = append(crawl, wire.Batch{ID: fmt.Sprintf("crawl-%d", i+1), CorrelationID: "crawl",
						URLs: wire.URLs(urls[i*size : (i+1)*size]...)})
				}
			}
			for _, b := range crawl {
				data, _ := json.Marshal(b)
				if err := nc.Publish(wire.DefaultInSubject, data); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for crawlResults.Load() < 16 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			small, _ := json.Marshal(wire.Batch{ID: "small", URLs: wire.URLs(target.URL("/delay/40"), target.URL("/delay/40"), target.URL("/delay/40"))})
			reply, err := nc.Request(wire.DefaultInSubject, small, 20*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			before := crawlResults.Load()
			var got []wire.Result
			if err := json.Unmarshal(reply.Data, &got); err != nil || len(got) != 3 {
				t.Fatalf("reply %s", reply.Data)
			}
			if before > 100 {
				t.Errorf("%d of the crawl's 400 results were published before the 3-URL reply came back", before)
			}
			t.Logf("crawl results published before the reply: %d of 400", before)
		})
	}
}
