package composetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	recipe "github.com/fetchstream/fetchstream/cmd/fetchstream/internal/images"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/wire"
)

// The JetStream input that `fetchstream run --jetstream` creates or uses.
const (
	inputStream  = "FETCH_URLS"
	inputDurable = "fetchstream"
	// captureStream keeps every result the stack publishes, so that none
	// is missed while the test's own client reconnects.
	captureStream = "COMPOSETEST_RESULTS"
)

// jetStreamFailover switches the replicas to JetStream mode, publishes
// batches that each take about 4s, SIGKILLs one replica and restarts
// NATS while they run, and checks that every URL of every batch got a
// result and that the input stream ends empty (every batch acked).
func jetStreamFailover(t *testing.T, s *stack, img images, nc *nats.Conn) {
	if !img.jetstream {
		t.Skip("skipping: this fetchstream has no JetStream mode yet (`fetchstream run -h` lists no -jetstream); " +
			"the phase runs by itself once it does")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// Made before the replicas start, so they find it and publish results
	// through it, settling a batch only once the stream holds its results.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: captureStream, Subjects: []string{wire.DefaultResultsSubject}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	s.vars["FETCHSTREAM_JETSTREAM"] = "true"
	s.scale(t, 3) // recreates the replicas with FETCHSTREAM_JETSTREAM=true
	s.waitReplicas(t, 3, "", time.Minute)
	input := waitConsumer(ctx, t, js, time.Minute)

	const nBatches, perBatch = 30, 4
	var batches []wire.Batch
	for i := range nBatches {
		b := wire.Batch{ID: fmt.Sprintf("js-%02d", i), Concurrency: 1} // one URL after the other: ~4s a batch
		for j := range perBatch {
			b.URLs = append(b.URLs, wire.Request{URL: targetURL(fmt.Sprintf("/delay/1?batch=%d&url=%d", i, j))})
		}
		data, _ := json.Marshal(b)
		if _, err := js.Publish(ctx, wire.DefaultInSubject, data, jetstream.WithMsgID(b.ID)); err != nil {
			t.Fatalf("publish batch %s: %v", b.ID, err)
		}
		batches = append(batches, b)
	}

	// Mid-load: some results are out, batches are held unacked.
	const midLoad = 10
	waitStored(ctx, t, js, captureStream, midLoad, time.Minute) // it holds results only
	info, err := input.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending == 0 {
		t.Errorf("no batch is unacked with %d results out: killing a replica tests nothing", midLoad)
	}
	victim := s.containers(t, "fetchstream")[0]
	if out, err := recipe.Run(ctx, time.Minute, nil, "", "docker", "kill", "--signal", "KILL", victim); err != nil {
		t.Fatalf("kill a replica: %v\n%s", err, out)
	}
	t.Logf("killed replica %.12s with %d batches unacked across the replicas; restarting NATS", victim, info.NumAckPending)
	s.must(t, "restart", "nats")
	waitConnected(t, nc, time.Minute)

	seen := readCaptured(ctx, t, js, captureStream, batches, 2*time.Minute)
	duplicates := 0
	for _, b := range batches {
		for i, item := range b.URLs {
			u := item.URL
			results := seen[resultKey{b.ID, i}]
			if len(results) == 0 {
				t.Errorf("batch %s URL %d (%s): no result", b.ID, i, u)
				continue
			}
			duplicates += len(results) - 1
			ok := false
			for _, r := range results {
				if r.Count != len(b.URLs) || r.URL != u {
					t.Errorf("batch %s result %d = {count %d, %s}, want {count %d, %s}", b.ID, i, r.Count, r.URL, len(b.URLs), u)
				}
				ok = ok || r.OK()
			}
			if !ok {
				t.Errorf("batch %s URL %d: no successful result among %+v", b.ID, i, results)
			}
		}
	}
	waitInputEmpty(ctx, t, js, time.Minute)
	if info, err = input.Info(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d URLs in %d batches: every one has a result, %d of them more than once in the capture stream "+
		"(which drops a copy with the same Nats-Msg-Id); %d deliveries of the %d batches",
		nBatches*perBatch, nBatches, duplicates, info.Delivered.Consumer, nBatches)
}

// waitConsumer waits until the replicas have made (or found) the input
// stream and its durable consumer, and returns the consumer.
func waitConsumer(ctx context.Context, t *testing.T, js jetstream.JetStream, timeout time.Duration) jetstream.Consumer {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		cons, err := js.Consumer(ctx, inputStream, inputDurable)
		if err == nil {
			return cons
		}
		if time.Now().After(deadline) {
			t.Fatalf("no consumer %s on stream %s within %s: %v", inputDurable, inputStream, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

type resultKey struct {
	batch string
	index int
}

// readCaptured reads the stream from the start until every URL of
// batches has a result, or fails t after timeout. It returns every
// result read, duplicates included, by batch and index; messages that
// are not results of batches (summaries) are skipped.
func readCaptured(ctx context.Context, t *testing.T, js jetstream.JetStream, stream string, batches []wire.Batch, timeout time.Duration) map[resultKey][]wire.Result {
	t.Helper()
	want, ours := 0, make(map[string]bool, len(batches))
	for _, b := range batches {
		want += len(b.URLs)
		ours[b.ID] = true
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{wire.DefaultResultsSubject}})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[resultKey][]wire.Result, want)
	deadline := time.Now().Add(timeout)
	for len(seen) < want {
		if time.Now().After(deadline) {
			var missing []resultKey
			for _, b := range batches {
				for i := range b.URLs {
					if len(seen[resultKey{b.ID, i}]) == 0 && len(missing) < 20 {
						missing = append(missing, resultKey{b.ID, i})
					}
				}
			}
			t.Fatalf("%d of %d URLs have a result after %s; missing (at most 20 shown): %v", len(seen), want, timeout, missing)
		}
		fetched, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			time.Sleep(250 * time.Millisecond) // the client may be reconnecting
			continue
		}
		for m := range fetched.Messages() {
			var r wire.Result
			if err := json.Unmarshal(m.Data(), &r); err != nil {
				t.Fatalf("captured result %s: %v", m.Data(), err)
			}
			if ours[r.BatchID] {
				key := resultKey{r.BatchID, r.Index}
				seen[key] = append(seen[key], r)
			}
		}
	}
	return seen
}

// waitInputEmpty waits until the input stream (a work queue) holds no
// batch: the replicas acked every one.
func waitInputEmpty(ctx context.Context, t *testing.T, js jetstream.JetStream, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		stream, err := streamInfo(ctx, js, inputStream)
		if err == nil && stream.CachedInfo().State.Msgs == 0 {
			return
		}
		if time.Now().After(deadline) {
			var msgs uint64
			if err == nil {
				msgs = stream.CachedInfo().State.Msgs
			}
			t.Fatalf("input stream %s still holds %d batches after %s (err %v)", inputStream, msgs, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// streamInfo asks for a stream's info within 5s: a request that went to a
// node as it died gets no answer, and a wait must ask again, not hang.
func streamInfo(ctx context.Context, js jetstream.JetStream, name string) (jetstream.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return js.Stream(ctx, name)
}
