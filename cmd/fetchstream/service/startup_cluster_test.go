package service

import (
	"context"
	"encoding/json"
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

// A service started at the same moment as a fresh three-node cluster (it
// is launched first, then the nodes come up one after the other, as in a
// compose start) waits for the meta leader and the streams' leaders,
// becomes ready only once its input stream and consumer exist, and serves
// every batch published meanwhile; three tries of three.
func TestServiceStartedWithAFreshClusterServesWhatWasPublished(t *testing.T) {
	t.Parallel()
	target := fetchtest.NewTarget(t)
	for try := 1; try <= 3; try++ {
		t.Run(fmt.Sprintf("try%d", try), func(t *testing.T) {
			c := natstest.NewCluster(t, 3)
			s := launch(t, testConfig(c.URLs(), func(cfg *Config) {
				cfg.JetStream.Enabled = true
				cfg.Storage.Replicas = 3
				cfg.Storage.ResultsStream = "RESULTS"
			}))
			for i := range c.Size() {
				c.Start(i)
			}
			load := loadtest.Delays(target, 10, 3)
			servesAfterStart(t, c, s, load)
		})
	}
}

// With one node of three down from the start (never started), a service
// with R1 streams and an object store becomes ready and serves.
func TestServiceWithANodeDownServes(t *testing.T) {
	t.Parallel()
	target := fetchtest.NewTarget(t)
	c := natstest.NewCluster(t, 3)
	s := launch(t, testConfig(c.URLs(), func(cfg *Config) {
		cfg.JetStream.Enabled = true
		cfg.Storage.Replicas = 1
		cfg.Storage.ResultsStream = "RESULTS"
		cfg.Storage.ObjectStore = "bodies"
		cfg.Fetch.MaxBody = 8 // every body goes to the bucket
	}))
	c.Start(0)
	c.Start(1)
	servesAfterStart(t, c, s, loadtest.Delays(target, 10, 3))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(c.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	obs, err := js.ObjectStore(ctx, "bodies")
	if err != nil {
		t.Fatal(err)
	}
	if status, err := obs.Status(ctx); err != nil || status.Size() == 0 {
		t.Fatalf("the object store holds nothing (%v): the bodies did not go there", err)
	}
}

// servesAfterStart publishes load into the input stream while s starts
// (retrying each batch until the stream, once created, acks it), checks
// that s is never ready before its consumer exists, waits until it runs,
// and then until the RESULTS stream holds every result of the load.
func servesAfterStart(t *testing.T, c *natstest.Cluster, s *testService, load loadtest.Load) {
	t.Helper()
	js, err := jetstream.New(c.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	notReadyYet := s.Ready() != nil
	published := make(chan error, 1)
	go func() { published <- publishUntilStored(js, load, 3*time.Minute) }()
	deadline := time.Now().Add(3 * time.Minute)
	for s.Ready() != nil {
		select {
		case err := <-s.exited:
			t.Fatalf("Run returned before it was ready: %v; logs:\n%s", err, s.logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 3m: %v; logs:\n%s", s.Ready(), s.logs)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.Consumer(ctx, "FETCH_URLS", "fetchstream"); err != nil {
		t.Fatalf("ready, and its consumer: %v", err)
	}
	if !notReadyYet {
		t.Error("ready before the cluster was up")
	}
	if err := <-published; err != nil {
		t.Fatalf("%v; logs:\n%s", err, s.logs)
	}
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(line, "waiting for") {
			t.Log(line) // what the start waited for, once a step, and when it was done
		}
	}
	loadtest.WaitFor(t, 2*time.Minute, "every result in the results stream", func() bool {
		unique, err := storedResults(js)
		return err == nil && len(unique) == load.Size()
	})
}

// storedResults reads the RESULTS stream message by message: the distinct
// (batch, index) results it holds. An error is one of the cluster's
// (still electing) and the caller asks again.
func storedResults(js jetstream.JetStream) (map[loadtest.Key]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, "RESULTS")
	if err != nil {
		return nil, err
	}
	state := stream.CachedInfo().State
	unique := map[loadtest.Key]bool{}
	for seq := state.FirstSeq; seq <= state.LastSeq && state.Msgs > 0; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			return nil, err
		}
		var r wire.Result
		if msg.Subject == wire.DefaultResultsSubject && json.Unmarshal(msg.Data, &r) == nil {
			unique[loadtest.Key{Batch: r.BatchID, Index: r.Index}] = true
		}
	}
	return unique, nil
}

// publishUntilStored publishes each batch of load into the input stream
// with its id as Nats-Msg-Id, trying again (while the stream does not
// exist yet or elects a leader) until the stream acks it or bound passes.
func publishUntilStored(js jetstream.JetStream, load loadtest.Load, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for i := range load.Batches {
		b := load.Batch(i)
		data, _ := json.Marshal(b)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := js.Publish(ctx, wire.DefaultInSubject, data, jetstream.WithMsgID(b.ID))
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("publish %s: %w", b.ID, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}
