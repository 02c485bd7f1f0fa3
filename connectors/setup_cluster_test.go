package connectors_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
)

// Each set-up step run right after the node leading its stream stopped
// (so its first requests reach a stream with no leader, which answers
// nothing) waits out the election and succeeds once a new leader is
// elected: the results stream, the object store bucket, the input stream
// and consumer, and the dead-letter subject's stream.
func TestSetupWaitsOutAStreamWithoutLeader(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	nc := c.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	results := connectors.ResultsStreamConfig{Name: "OUT", Subjects: []string{"res", "res.batches"}, Replicas: 3}
	objects := connectors.ObjectStoreConfig{Bucket: "bodies", Replicas: 3}
	setup := clusterSetup()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := connectors.EnsureResultsStream(ctx, nc, results, discardLog()); err != nil {
		t.Fatal(err)
	}
	if _, err := connectors.NewObjectStore(ctx, nc, objects, discardLog()); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DEAD", Subjects: []string{"dead"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	startWorker(t, workerConfig{url: c.URLs(), setup: setup, results: "res", resultsStream: "OUT"}).kill()
	dead, err := connectors.NewDeadLetter(ctx, nc, "dead")
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		stream string
		run    func(ctx context.Context) error
	}{
		{"OUT", func(ctx context.Context) error { return connectors.EnsureResultsStream(ctx, nc, results, discardLog()) }},
		{"OBJ_bodies", func(ctx context.Context) error {
			_, err := connectors.NewObjectStore(ctx, nc, objects, discardLog())
			return err
		}},
		{"DEAD", func(ctx context.Context) error {
			dl, err := connectors.NewDeadLetter(ctx, nc, "dead")
			if err == nil && dl == nil {
				t.Error("no dead letter")
			}
			return err
		}},
		{"IN", func(ctx context.Context) error {
			_, err := connectors.NewJetStreamSource(ctx, nc, connectors.JetStreamSourceConfig{
				ConsumerSetup: setup, MaxPending: 1, DeadLetter: dead, Logger: discardLog()})
			return err
		}},
	}
	for _, step := range steps {
		leader := c.StreamLeader(step.stream, 30*time.Second)
		c.Stop(leader)
		started := time.Now()
		// A generous bound: the server elects in a few seconds; the step
		// must not give its first, unanswered, request all of it.
		stepCtx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		err := step.run(stepCtx)
		cancel()
		t.Logf("set-up over %s with its leader (node %d) just stopped: %v after %s", step.stream, leader, err, time.Since(started).Round(time.Millisecond))
		if err != nil {
			t.Errorf("set-up over %s: %v", step.stream, err)
		}
		c.Restart(leader)
		c.WaitMetaLeader(30 * time.Second)
	}
}
