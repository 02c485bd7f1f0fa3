package service

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// The stall, at the slowest legal pace: many more messages than
// --max-active, each two URLs to one host at a per_host_rate of one
// request per 100s, so that each batch, after its first request, only
// waits for its host. Before, --max-active (8 here) such batches closed
// admission for as long as they lived; now they do not count as busy, all
// 64 are admitted (in JetStream mode too: they lend the source their
// pull credit), and a canary to another host is answered within its
// budget while they wait.
func TestStallAttackDoesNotCloseAdmission(t *testing.T) {
	for _, jetStream := range []bool{false, true} {
		t.Run(map[bool]string{false: "core", true: "jetstream"}[jetStream], func(t *testing.T) {
			t.Parallel()
			ns, nc := natstest.Start(t)
			natsURL := ns.ClientURL()
			host := fetchtest.NewTarget(t)
			neighbour := fetchtest.NewCounter(t, "127.0.0.2:0")
			svc := start(t, natsURL, func(c *Config) {
				c.Fetch.MaxActive, c.Fetch.MaxBatchTime, c.JetStream.Enabled = 8, 2*time.Minute, jetStream
				c.ShutdownGrace = time.Second // the attack's batches wait 100s for their pace: stop them
			})
			const messages = 64
			attack := fmt.Sprintf(`{"per_host_rate": 0.01, "urls": [%q, %q]}`, host.URL("/text"), host.URL("/text"))
			js, _ := jetstream.New(nc)
			for range messages {
				var err error
				if jetStream {
					_, err = js.Publish(context.Background(), wire.DefaultInSubject, []byte(attack))
				} else {
					err = nc.Publish(wire.DefaultInSubject, []byte(attack))
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			loadtest.WaitFor(t, 30*time.Second, "every attack batch's first request", func() bool {
				return len(host.Hits("/text")) == messages
			})
			canary := wire.DefaultInSubject
			if jetStream {
				canary = svc.cfg.Subjects.Micro // a request to the stream's subject is answered by the stream
			}
			loadtest.Canary(t, nc, canary, neighbour.URL+"/", loadtest.CanaryBudget)
			if n := len(host.Hits("/text")); n != messages {
				t.Errorf("%d requests to the paced host, want %d: one per batch, the second held by its pace", n, messages)
			}
		})
	}
}

// A batch whose own pace could not finish within the lifetime is refused
// at once, saying why and naming --max-batch-time, and makes no request:
// 11 URLs to one host at per_host_rate 0.01, the slowest legal rate, need
// 1000s, over the default 15m. --max-active of them (256, the issue's
// count) leave the service as it was.
func TestBatchItsPaceCannotFinishIsRefused(t *testing.T) {
	t.Parallel()
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	host := fetchtest.NewTarget(t)
	neighbour := fetchtest.NewCounter(t, "127.0.0.2:0")
	summaries := loadtest.Subscribe(t, nc, wire.DefaultBatchesSubject)
	start(t, natsURL, nil)
	const messages = 256
	for i := range messages {
		attack := fmt.Sprintf(`{"id": "stall-%d", "per_host_rate": 0.01, "urls": [%s]}`, i, strings.Repeat(`"`+host.URL("/a")+`", `, 10)+`"`+host.URL("/b")+`"`)
		if err := nc.Publish(wire.DefaultInSubject, []byte(attack)); err != nil {
			t.Fatal(err)
		}
	}
	hostKey := strings.TrimPrefix(host.URL(""), "http://")
	for range messages {
		var s wire.Summary
		summaries.Next(&s, 10*time.Second)
		want := "11 URLs to host " + hostKey + " at per_host_rate 0.01 need at least 16m50s (the last starts after 16m40s, then has 10s)"
		if s.Error != wire.ErrInvalidBatch || !strings.Contains(s.Message, want) || !strings.Contains(s.Message, "--max-batch-time 15m0s") {
			t.Fatalf("summary of %s: %q %q; want invalid_batch saying %q, over --max-batch-time 15m0s", s.BatchID, s.Error, s.Message, want)
		}
	}
	loadtest.Canary(t, nc, wire.DefaultInSubject, neighbour.URL+"/", loadtest.CanaryBudget)
	if n := host.Requests(); n != 0 {
		t.Errorf("%d requests for refused batches", n)
	}
}

// A batch outlives no --max-batch-time: its URLs held by their host's
// pause (the host answered an earlier batch 503 with Retry-After: 30) end
// as timeout when its lifetime of 2s runs out, saying so, in order, and
// the reply comes then, not after the pause; a canary to another host is
// answered meanwhile.
func TestLifetimeEndsABatchHeldByAPause(t *testing.T) {
	t.Parallel()
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	host := fetchtest.NewTarget(t)
	neighbour := fetchtest.NewCounter(t, "127.0.0.2:0")
	start(t, natsURL, func(c *Config) {
		c.Fetch.Timeout, c.Fetch.MaxTimeout, c.Fetch.MaxBatchTime = time.Second, time.Second, 2*time.Second
	})
	if r := loadtest.RequestBatch(t, nc, wire.DefaultInSubject, wire.Batch{URLs: wire.URLs(host.URL("/status/503?retry_after=30"))}); r[0].Status != 503 {
		t.Fatalf("first batch: %q %d, want the 503", r[0].Error, r[0].Status)
	}
	replied := make(chan []wire.Result, 1)
	go func() {
		replied <- loadtest.RequestBatch(t, nc, wire.DefaultInSubject, wire.Batch{URLs: wire.URLs(host.URL("/text"), host.URL("/text"))})
	}()
	loadtest.Canary(t, nc, wire.DefaultInSubject, neighbour.URL+"/", loadtest.CanaryBudget)
	var results []wire.Result
	select {
	case results = <-replied:
	case <-time.After(20 * time.Second):
		t.Fatal("no reply: the batch outlived its lifetime of 2s")
	}
	for _, r := range results {
		if r.Error != wire.ErrTimeout || !strings.Contains(r.Message, "lifetime of 2s (--max-batch-time)") {
			t.Errorf("URL held by the pause: %q %s; want timeout by the batch's lifetime", r.Error, r.Message)
		}
	}
	if n := len(host.Hits("/text")); n != 0 {
		t.Errorf("%d requests to the paused host", n)
	}
}
