package client_test

import (
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/client"
)

// In JetStream mode on a three-node cluster (R3 input and results
// streams), Gather works as in core mode, through the streamed reply the
// client asks for in headers: a batch whose results (8 × 200 KiB) exceed
// the max payload comes back whole and in order.
func TestGatherInJetStreamModeOnACluster(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	nc := c.Connect(t)
	stop, err := startService(c.URLs(), func(cfg *service.Config) {
		cfg.JetStream.Enabled = true
		cfg.Fetch.MaxBody = 256 << 10
		cfg.Storage.Replicas, cfg.Storage.ResultsStream = 3, "RESULTS"
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	target, stopTarget := startTarget()
	t.Cleanup(stopTarget)
	urls := make([]string, 8)
	for i := range urls {
		urls[i] = target + "/big/200"
	}
	urls[5] = target + "/status/404"
	g, err := newClient(t, nc, client.WithWaitTimeout(time.Minute)).Gather(deadline(t), urls)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, r := range g.Results {
		total += int(r.BodyBytes)
		switch {
		case r.URL != urls[i] || r.Index != i:
			t.Errorf("slot %d holds %s (index %d), want %s", i, r.URL, r.Index, urls[i])
		case i == 5 && r.Error != wire.ErrHTTP:
			t.Errorf("slot 5: %+v, want http_error", r)
		case i != 5 && (!r.OK() || r.BodyBytes != 200<<10 || r.BodyTruncated):
			t.Errorf("slot %d: error %q, %d body bytes, truncated %v: want the whole 200 KiB", i, r.Error, r.BodyBytes, r.BodyTruncated)
		}
	}
	if int64(total) <= nc.MaxPayload() || len(g.Summaries) != 1 {
		t.Errorf("%d body bytes in all and %d summaries: want more than one message (%d) and 1", total, len(g.Summaries), nc.MaxPayload())
	}
}
