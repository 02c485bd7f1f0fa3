package connectors_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
)

// clusterSetup is the input of the cluster tests: an R3 stream.
func clusterSetup() connectors.ConsumerSetup {
	return connectors.ConsumerSetup{Stream: "IN", Subject: "in", Durable: "workers",
		AckWait: 2 * time.Second, MaxDeliver: 10, MaxAckPending: 100, Replicas: 3}
}

// On a three-node cluster, with an R3 input stream and an R3 results
// stream, stopping the node that leads the input stream under load loses
// no batch and no result: the pull loop waits out the election, batches
// held across it are redelivered, and the results stream keeps each
// result and summary once.
func TestClusterLosesNothingWhenTheStreamLeaderGoes(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	nc := c.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := connectors.EnsureResultsStream(ctx, nc, connectors.ResultsStreamConfig{
		Name: "OUT", Subjects: []string{"res", "res.batches"}, Replicas: 3}, discardLog()); err != nil {
		t.Fatal(err)
	}
	if _, err := connectors.NewObjectStore(ctx, nc, connectors.ObjectStoreConfig{Bucket: "bodies", Replicas: 3}, discardLog()); err != nil {
		t.Fatal(err)
	}
	for _, stream := range []string{"OUT", "OBJ_bodies"} {
		if s, err := js.Stream(ctx, stream); err != nil || s.CachedInfo().Config.Replicas != 3 {
			t.Fatalf("stream %s: %v; want 3 replicas", stream, err)
		}
	}
	cfg := workerConfig{url: c.URLs(), setup: clusterSetup(), results: "res", resultsStream: "OUT"}
	startWorker(t, cfg)
	startWorker(t, cfg)
	info, err := js.Stream(ctx, "IN")
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().Config.Replicas; got != 3 {
		t.Fatalf("the input stream has %d replicas, want 3", got)
	}
	cons, err := js.Consumer(ctx, "IN", "workers")
	if err != nil {
		t.Fatal(err)
	}
	if got := cons.CachedInfo().Config.Replicas; got != 0 && got != 3 {
		t.Fatalf("the consumer has %d replicas, want its stream's 3", got)
	}

	const batches, size = 40, 10
	sleepBatches(t, js, "in", batches, size)
	eventually(t, 60*time.Second, "a third of the results stored", func() bool {
		return streamMsgCount(js, "OUT") >= batches*size/3
	})
	leader := c.StreamLeader("IN", 10*time.Second)
	c.Stop(leader)
	t.Logf("stopped node %d, the input stream's leader, with %d messages in the results stream", leader, streamMsgCount(js, "OUT"))

	want := uint64(batches*size + batches)
	eventually(t, 120*time.Second, "every result and summary stored", func() bool {
		return streamMsgCount(js, "OUT") >= want
	})
	time.Sleep(500 * time.Millisecond) // duplicates, if any got through, arrive
	got := readResultsStream(t, js, "OUT", "res")
	if len(got.distinct) != batches*size {
		t.Errorf("results stream holds %d distinct results, want %d: lost %d", len(got.distinct), batches*size, batches*size-len(got.distinct))
	}
	if got.results != batches*size || got.summaries != batches {
		t.Errorf("results stream holds %d results and %d summaries, want %d and %d, each once", got.results, got.summaries, batches*size, batches)
	}
}

// A replica killed mid-batch (its connection closed at once, its batches
// unsettled) leaves results of its batches in the results stream; their
// redelivery to the other replica publishes them again under the same
// Nats-Msg-Id, so the stream ends up holding each result and each summary
// exactly once.
func TestResultsStreamKeepsEachResultOnceAcrossAKill(t *testing.T) {
	t.Parallel()
	ns, nc := natstest.Start(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := connectors.EnsureResultsStream(ctx, nc, connectors.ResultsStreamConfig{
		Name: "OUT", Subjects: []string{"res", "res.batches"}, Duplicates: connectors.DuplicateWindow(2*time.Second, 10, connectors.DefaultOutputRetryFor, time.Hour)},
		discardLog()); err != nil {
		t.Fatal(err)
	}
	setup := clusterSetup()
	setup.Replicas = 1
	cfg := workerConfig{url: ns.ClientURL(), setup: setup, results: "res", resultsStream: "OUT"}
	a := startWorker(t, cfg)
	const batches, size = 20, 10
	sleepBatches(t, js, "in", batches, size)
	eventually(t, 60*time.Second, "a third of the results stored", func() bool {
		return streamMsgCount(js, "OUT") >= batches*size/3
	})
	held := a.src.Stats().Held
	a.kill()
	if held == 0 {
		t.Fatal("the killed replica held no batch: the test did not kill it mid-batch")
	}
	startWorker(t, cfg)
	want := uint64(batches*size + batches)
	eventually(t, 60*time.Second, "every result and summary stored", func() bool {
		return streamMsgCount(js, "OUT") >= want
	})
	eventually(t, 30*time.Second, "nothing left in the consumer", func() bool {
		info, err := js.Consumer(ctx, "IN", "workers")
		if err != nil {
			return false
		}
		i, err := info.Info(ctx)
		return err == nil && i.NumAckPending == 0 && i.NumPending == 0
	})
	got := readResultsStream(t, js, "OUT", "res")
	t.Logf("killed a replica holding %d batches; the results stream holds %d results (%d distinct) and %d summaries",
		held, got.results, len(got.distinct), got.summaries)
	if got.results != batches*size || len(got.distinct) != batches*size || got.summaries != batches {
		t.Errorf("results stream holds %d results (%d distinct) and %d summaries; want %d and %d, each once",
			got.results, len(got.distinct), got.summaries, batches*size, batches)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
