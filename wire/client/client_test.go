package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/client"
)

// testDeadline bounds every wait of these tests, so that a hang fails.
const testDeadline = 20 * time.Second

func urlList(n int) []string {
	urls := make([]string, n)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://example.test/%d", i)
	}
	return urls
}

func newClient(t *testing.T, nc *nats.Conn, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func deadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testDeadline)
	t.Cleanup(cancel)
	return ctx
}

// A list split into three batches that the service answers last first
// comes back in the list's order, each result with its position, and the
// summaries in batch order.
func TestOrderAcrossSplitBatches(t *testing.T) {
	ns, nc := natstest.Start(t)
	startResponder(t, ns.ClientURL(), &responder{hold: 3})
	c := newClient(t, nc, client.WithMaxBatch(2))
	urls := urlList(5)

	s, err := c.Publish(deadline(t), wire.Batch{ID: "crawl", URLs: wire.URLs(urls...)})
	if err != nil {
		t.Fatal(err)
	}
	var positions []int
	for r, err := range s.Results(deadline(t)) {
		if err != nil {
			t.Fatal(err)
		}
		positions = append(positions, r.Position)
		if r.URL != urls[r.Position] {
			t.Errorf("position %d holds %s, want %s", r.Position, r.URL, urls[r.Position])
		}
		if want := fmt.Sprintf("crawl-%d", r.Position/2+1); r.BatchID != want || r.Index != r.Position%2 || r.CorrelationID != "crawl" {
			t.Errorf("position %d: batch %s index %d correlation %q, want %s index %d", r.Position, r.BatchID, r.Index, r.CorrelationID, want, r.Position%2)
		}
		if !strings.Contains(string(r.Raw), `"batch_id":"`+r.BatchID+`"`) {
			t.Errorf("Raw is not the published result: %s", r.Raw)
		}
	}
	if fmt.Sprint(positions) != "[0 1 2 3 4]" {
		t.Errorf("positions %v, want [0 1 2 3 4]", positions)
	}
	var ids []string
	for _, sum := range s.Summaries() {
		ids = append(ids, sum.BatchID)
	}
	if fmt.Sprint(ids) != "[crawl-1 crawl-2 crawl-3]" {
		t.Errorf("summaries %v, want crawl-1, crawl-2, crawl-3", ids)
	}

	g, err := c.Gather(deadline(t), urls)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range g.Results {
		if r.URL != urls[i] || r.Status != 200 {
			t.Errorf("Gather: slot %d holds %+v, want %s", i, r, urls[i])
		}
	}
	if len(g.Summaries) != 3 || !g.OK() {
		t.Errorf("Gather: %d summaries, OK %v; want 3, true", len(g.Summaries), g.OK())
	}
}

// A batch the service rejects ends with a *BatchError naming its kind and
// positions; the other batches of the list go on.
func TestRejectedBatch(t *testing.T) {
	ns, nc := natstest.Start(t)
	startResponder(t, ns.ClientURL(), &responder{reject: map[string]wire.ErrorKind{"big-2": wire.ErrBatchTooLarge, "again-2": wire.ErrInvalidBatch}})
	c := newClient(t, nc, client.WithMaxBatch(2))
	urls := urlList(5)

	g, err := c.GatherBatch(deadline(t), wire.Batch{ID: "big", URLs: wire.URLs(urls...)})
	var be *client.BatchError
	if !errors.As(err, &be) || be.ID != "big-2" || be.Kind != wire.ErrBatchTooLarge || be.First != 2 || be.Count != 2 {
		t.Fatalf("err %v (%+v), want a BatchError for big-2, batch_too_large, positions 2-3", err, be)
	}
	for i, r := range g.Results {
		want := wire.ErrorKind("")
		if i == 2 || i == 3 {
			want = wire.ErrBatchTooLarge
		}
		if r.URL != urls[i] || r.Error != want {
			t.Errorf("slot %d: url %s error %q, want %s %q", i, r.URL, r.Error, urls[i], want)
		}
	}

	s, err := c.Publish(deadline(t), wire.Batch{ID: "again", URLs: wire.URLs(urls...)})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for r, err := range s.Results(deadline(t)) {
		switch {
		case errors.As(err, &be):
			seen = append(seen, "rejected "+be.ID)
		case err != nil:
			t.Fatal(err)
		default:
			seen = append(seen, fmt.Sprint(r.Position))
		}
	}
	if fmt.Sprint(seen) != "[0 1 rejected again-2 4]" {
		t.Errorf("the stream yielded %v, want [0 1 rejected again-2 4]", seen)
	}
}

// Batches the service would refuse or rename are refused before anything
// is published.
func TestInvalidBatchIsNotPublished(t *testing.T) {
	ns, nc := natstest.Start(t)
	r := startResponder(t, ns.ClientURL(), &responder{})
	c := newClient(t, nc, client.WithMaxBatch(2))
	nine := 10
	cases := []struct {
		name  string
		batch wire.Batch
	}{
		{"no URLs", wire.Batch{ID: "empty"}},
		{"id over 256 bytes", wire.Batch{ID: strings.Repeat("x", wire.MaxIDLength+1), URLs: wire.URLs(urlList(1)...)}},
		{"id that the split suffix takes over 256 bytes", wire.Batch{ID: strings.Repeat("x", wire.MaxIDLength-1), URLs: wire.URLs(urlList(3)...)}},
		{"id not UTF-8", wire.Batch{ID: "bad\xff", URLs: wire.URLs(urlList(1)...)}},
		{"correlation id over 256 bytes", wire.Batch{CorrelationID: strings.Repeat("c", wire.MaxIDLength+1), URLs: wire.URLs(urlList(1)...)}},
		{"priority out of range", wire.Batch{Priority: &nine, URLs: wire.URLs(urlList(1)...)}},
		{"negative timeout", wire.Batch{TimeoutMS: -1, URLs: wire.URLs(urlList(1)...)}},
		{"negative concurrency", wire.Batch{Concurrency: -1, URLs: wire.URLs(urlList(1)...)}},
		{"URL longer than a message", wire.Batch{URLs: wire.URLs("http://a/" + strings.Repeat("a", int(nc.MaxPayload())))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Send(deadline(t), tc.batch)
			if !errors.Is(err, client.ErrInvalidBatch) {
				t.Errorf("Send: %v, want ErrInvalidBatch", err)
			}
			if err != nil && (strings.Count(err.Error(), "fetchstream client:") != 1 || strings.Count(err.Error(), "invalid batch") != 1) {
				t.Errorf("Send: %q, want the prefix and %q once", err, "invalid batch")
			}
			if _, err := c.Publish(deadline(t), tc.batch); !errors.Is(err, client.ErrInvalidBatch) {
				t.Errorf("Publish: %v, want ErrInvalidBatch", err)
			}
		})
	}
	// A valid batch sent after them on the same connection is the first
	// the service gets.
	if _, err := c.Send(deadline(t), wire.Batch{ID: "ok", URLs: wire.URLs(urlList(1)...)}); err != nil {
		t.Fatal(err)
	}
	ctx := deadline(t)
	for len(r.batches()) == 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	if got := r.batches(); fmt.Sprint(got) != "[ok]" {
		t.Errorf("the service got batches %q, want only the valid one", got)
	}
}
