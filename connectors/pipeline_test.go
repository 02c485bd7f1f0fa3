package connectors_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/reugn/go-streams"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/wire"
)

// okFetcher answers every URL with a 200 and counts the fetches.
type okFetcher struct{ fetches atomic.Int64 }

func (f *okFetcher) Do(_ context.Context, req wire.Request, _ *wire.RequestOptions, _ time.Duration) wire.Result {
	rawURL := req.URL
	f.fetches.Add(1)
	return wire.Result{URL: rawURL, Status: 200}
}

// chain runs src through the real decode, fetch and encode stages into a
// Publisher on "out" and "batches", as the service does, until ctx ends
// (the caller cancels src's context); it returns a channel closed once
// the sink has published and settled everything.
func chain(t *testing.T, ctx context.Context, nc *nats.Conn, src streams.Source, fetcher engine.URLFetcher) <-chan struct{} {
	t.Helper()
	decode, err := stages.NewDecode(stages.DecodeConfig{MaxBatch: 100, DefaultTimeout: time.Second, MaxTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	fetch, err := engine.NewFetch(ctx, fetcher, engine.FetchConfig{Concurrency: 4, Window: 4, MaxActive: 4})
	if err != nil {
		t.Fatal(err)
	}
	encode, err := stages.NewEncode(stages.EncodeConfig{MaxBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := connectors.NewPublisher(ctx, nc, connectors.PublisherConfig{Results: "out", Batches: "batches"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Via(decode).Via(fetch).Via(encode).To(sink)
	}()
	return done
}

// nextSummary reads the next summary from sub, failing after 10s.
func nextSummary(t *testing.T, sub *nats.Subscription) wire.Summary {
	t.Helper()
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no summary: %v", err)
	}
	var s wire.Summary
	if err := json.Unmarshal(m.Data, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// A batch whose reply would come back on the input (Fetch-Reply-To names
// a subject the source reads) is refused with a summary that says so, and
// nothing is published on the input: no loop.
func TestReplyToTheInputIsRefused(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := connectors.NewCoreSource(ctx, nc, connectors.CoreSourceConfig{Subject: "in.*", Queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	fetcher := &okFetcher{}
	chain(t, context.Background(), nc, src, fetcher)
	summaries, _ := nc.SubscribeSync("batches")
	_ = nc.Flush()
	if err := nc.PublishMsg(&nats.Msg{Subject: "in.a", Data: []byte("http://x/"),
		Header: nats.Header{wire.HeaderBatchID: {"loop"}, wire.HeaderReplyTo: {"in.b"}}}); err != nil {
		t.Fatal(err)
	}
	s := nextSummary(t, summaries)
	if s.BatchID != "loop" || s.Error != wire.ErrInvalidBatch || !strings.Contains(s.Message, `the reply subject "in.b" is one the service reads batches from ("in.*")`) {
		t.Errorf("summary %+v, want invalid_batch naming the reply subject", s)
	}
	if m, err := summaries.NextMsg(500 * time.Millisecond); err == nil {
		t.Errorf("a second summary %s: the reply came back as a batch", m.Data)
	}
	if n := fetcher.fetches.Load(); n != 0 {
		t.Errorf("%d fetches, want none", n)
	}
}
