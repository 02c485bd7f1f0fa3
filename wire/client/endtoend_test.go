package client_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/client"
)

// Against the real pipeline: a split list comes back in the list's order
// with its positions, a batch over the service's maximum is a BatchError
// naming it, and Ping sees the service.
func TestEndToEnd(t *testing.T) {
	ns, nc := natstest.Start(t)
	stop, err := startService(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	target, stopTarget := startTarget()
	t.Cleanup(stopTarget)

	c := newClient(t, nc, client.WithMaxBatch(2))
	if err := c.Ping(deadline(t)); err != nil {
		t.Errorf("Ping: %v", err)
	}
	var urls []string
	for i := range 7 {
		urls = append(urls, fmt.Sprintf("%s/status/%d", target, 200+i))
	}
	urls[3] = target + "/status/404"
	s, err := c.Publish(deadline(t), wire.Batch{ID: "e2e", URLs: wire.URLs(urls...)})
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	for r, err := range s.Results(deadline(t)) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Position != next || r.URL != urls[next] {
			t.Errorf("got position %d (%s), want %d (%s)", r.Position, r.URL, next, urls[next])
		}
		if next == 3 && (r.Error != wire.ErrHTTP || r.Status != 404) {
			t.Errorf("position 3: %+v, want http_error 404", r.Result)
		}
		next++
	}
	if next != len(urls) || len(s.Summaries()) != 4 {
		t.Errorf("%d results and %d summaries, want %d and 4", next, len(s.Summaries()), len(urls))
	}

	c = newClient(t, nc, client.WithMaxBatch(1000)) // over the service's 100
	g, err := c.GatherBatch(deadline(t), wire.Batch{ID: "too-big", URLs: make([]wire.Request, 101)})
	var be *client.BatchError
	if !errors.As(err, &be) || be.ID != "too-big" || be.Kind != wire.ErrBatchTooLarge {
		t.Fatalf("err %v, want a BatchError for too-big, batch_too_large", err)
	}
	if g.Results[100].Error != wire.ErrBatchTooLarge {
		t.Errorf("slot 100: %+v, want batch_too_large", g.Results[100])
	}
}
