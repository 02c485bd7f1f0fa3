package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
)

// summarize publishes a summary of batch id with failed failures, as the
// service does.
func summarize(t *testing.T, nc *nats.Conn, s subjects, id string, failed int) {
	t.Helper()
	data, _ := json.Marshal(wire.Summary{BatchID: id, Count: 1, Failed: failed})
	if err := nc.Publish(s.batches, data); err != nil {
		t.Fatal(err)
	}
}

// newTestLoad is a load generator of batches one-URL batches, published
// on a real server with no service behind it: the test answers.
func newTestLoad(t *testing.T, batches int) (*loadRun, *nats.Conn, subjects) {
	t.Helper()
	_, nc := natstest.Start(t)
	s := subjects{in: "t.urls", out: "t.results", batches: "t.batches"}
	load, cleanup, err := newLoadRun(nc, s, batches)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	for _, b := range makeBatches("b", batches, 1, "http://127.0.0.1:1/") {
		if err := load.publish(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	return load, nc, s
}

// A batch summarized twice (a redelivery, a duplicate) counts once: the
// load ends when every batch has a summary, its failures are counted
// once, and the summary after the last one does not close the done
// channel again (which panicked the load generator).
func TestLoadDuplicateSummary(t *testing.T) {
	load, nc, s := newTestLoad(t, 2)
	for _, id := range []string{"b-0", "b-0", "b-1", "b-1", "b-0"} {
		summarize(t, nc, s, id, 1)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := load.wait(ctx); err != nil {
		t.Fatal(err)
	}
	// A later summary of a batch already done is read before this one.
	summarize(t, nc, s, "b-1", 1)
	summarize(t, nc, s, "unknown", 1)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the handler run: if it panics, the test binary dies
	if n, f := load.done(), load.failures(); n != 2 || f != 2 {
		t.Errorf("%d batches done, %d failures; want 2 and 2 (each batch once)", n, f)
	}
}

// The failure count is read under the lock the summaries' handler writes
// it under: -race catches a read without it while summaries arrive.
func TestLoadFailuresReadWhileSummariesArrive(t *testing.T) {
	const batches = 300
	load, nc, s := newTestLoad(t, batches)
	go func() {
		for i := range batches {
			data, _ := json.Marshal(wire.Summary{BatchID: fmt.Sprintf("b-%d", i), Count: 1, Failed: 1})
			_ = nc.Publish(s.batches, data)
		}
	}()
	seen := 0
	for deadline := time.Now().Add(20 * time.Second); load.done() < batches; {
		seen = max(seen, load.failures())
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d batches done", load.done(), batches)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := load.wait(ctx); err != nil {
		t.Fatal(err)
	}
	if f := load.failures(); f != batches || seen > f {
		t.Errorf("failures %d (seen on the way: %d), want %d", f, seen, batches)
	}
}

// A load publishes at most maxOutstanding batches ahead of their
// summaries: the next publish waits for a summary, and gives up with an
// error when none comes for the stall timeout, rather than flooding a
// service past what it buffers.
func TestLoadBoundsBatchesOutstanding(t *testing.T) {
	_, nc := natstest.Start(t)
	s := subjects{in: "t.urls", out: "t.results", batches: "t.batches"}
	load, cleanup, err := newLoadRun(nc, s, maxOutstanding+2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	load.stall = time.Second
	batches := makeBatches("b", maxOutstanding+2, 1, "http://127.0.0.1:1/")
	for _, b := range batches[:maxOutstanding] {
		if err := load.publish(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	published := make(chan error, 1)
	go func() { published <- load.publish(t.Context(), batches[maxOutstanding]) }()
	select {
	case err := <-published:
		t.Fatalf("publish %d batches ahead of their summaries: %v, want it to wait", maxOutstanding+1, err)
	case <-time.After(100 * time.Millisecond):
	}
	summarize(t, nc, s, "b-0", 0)
	if err := <-published; err != nil {
		t.Fatalf("publish after a summary freed a place: %v", err)
	}
	load.mu.Lock()
	load.stall = 50 * time.Millisecond
	load.mu.Unlock()
	err = load.publish(t.Context(), batches[maxOutstanding+1])
	if err == nil || !strings.Contains(err.Error(), "no batch published or summarized") {
		t.Fatalf("publish with no summary for the stall timeout: %v, want the stall error", err)
	}
}
