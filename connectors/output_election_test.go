package connectors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/chaostest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
)

// checkOrder reads the stream whole, through elections, and judges the
// batches named in sizes (batch id → URL count): each complete, stored
// once, in batch order with its summary last, without a summary error.
func checkOrder(t *testing.T, js jetstream.JetStream, stream, results string, sizes map[string]int) chaostest.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stored, err := chaostest.ReadStream(ctx, js, stream, results, results+".batches")
	if err != nil {
		t.Fatal(err)
	}
	acked := make([]chaostest.Batch, 0, len(sizes))
	for id, n := range sizes {
		acked = append(acked, chaostest.Batch{ID: id, URLs: n})
	}
	return chaostest.Check(acked, stored, nil)
}

// deadLetters counts the messages on the dead-letter subject "dead".
func deadLetters(t *testing.T, nc *nats.Conn) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	sub, err := nc.Subscribe("dead", func(m *nats.Msg) {
		n.Add(1)
		t.Logf("dead letter: kind %s, reason %s, summary not stored: %q", m.Header.Get(wire.HeaderDeadKind),
			m.Header.Get(wire.HeaderDeadReason), m.Header.Get("Fetch-Dead-Summary-Error"))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &n
}

// loadBatches publishes batches of size sleep URLs through JetStream, one
// every gap, until stop is closed; it returns the ids and sizes of those
// the input stream acked, once stopped.
func loadBatches(t *testing.T, js jetstream.JetStream, prefix string, size int, gap time.Duration, stop <-chan struct{}) func() map[string]int {
	sizes := map[string]int{}
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(gap)
		defer tick.Stop()
		for b := 0; ; b++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			urls := make([]string, size)
			for i := range urls {
				urls[i] = fmt.Sprintf("http://sleep/%d", 20+(b*37+i*53)%100)
			}
			id := fmt.Sprintf("%s%d", prefix, b)
			data, _ := json.Marshal(wire.Batch{ID: id, URLs: wire.URLs(urls...)})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := js.PublishMsg(ctx, &nats.Msg{Subject: "in", Data: data}, jetstream.WithMsgID(id))
			cancel()
			if err == nil {
				mu.Lock()
				sizes[id] = size
				mu.Unlock()
			}
		}
	}()
	return func() map[string]int {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return sizes
	}
}

// settledAll waits until the input consumer has nothing pending or unacked.
func settledAll(t *testing.T, js jetstream.JetStream, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "every batch settled", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cons, err := js.Consumer(ctx, "IN", "workers")
		if err != nil {
			return false
		}
		i, err := cons.Info(ctx)
		return err == nil && i.NumAckPending == 0 && i.NumPending == 0
	})
}

// Stopping the node that leads the R3 results stream, three times under
// load, costs time and nothing else: each acked batch has every result
// once, in index order (but for the race docs/delivery.md describes),
// its summary after them, and none is dead-lettered. The stream has no
// leader for seconds each time; the publisher holds and retries through
// it.
func TestResultsStreamLeaderStopsCostNoBatch(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	nc := c.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	setup := clusterSetup()
	setup.MaxDeliver = 5
	if err := connectors.EnsureResultsStream(ctx, nc, connectors.ResultsStreamConfig{
		Name: "OUT", Subjects: []string{"res", "res.batches"}, Replicas: 3,
		Duplicates: 10 * time.Minute}, discardLog()); err != nil {
		t.Fatal(err)
	}
	dead := deadLetters(t, nc)
	cfg := workerConfig{url: c.URLs(), setup: setup, results: "res", resultsStream: "OUT"}
	startWorker(t, cfg)
	startWorker(t, cfg)

	stop := make(chan struct{})
	loaded := loadBatches(t, js, "k", 10, 100*time.Millisecond, stop)
	for kill := range 3 {
		time.Sleep(3 * time.Second)
		leader := c.StreamLeader("OUT", 20*time.Second)
		c.Stop(leader)
		stopped := time.Now()
		next := c.StreamLeader("OUT", 30*time.Second)
		t.Logf("stop %d: node %d led the results stream; node %d leads it %s later", kill+1, leader, next,
			time.Since(stopped).Round(100*time.Millisecond))
		c.Restart(leader)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	sizes := loaded()
	settledAll(t, js, 120*time.Second)
	rep := checkOrder(t, js, "OUT", "res", sizes)
	t.Logf("%s; %d dead letters", rep, dead.Load())
	// A publish lost at a leader that hands over at once can be stored
	// after one sent just behind it (docs/delivery.md: results are
	// stored in batch order but for one race): one batch with results out
	// of place per stop at most, nothing lost, incomplete or stored twice.
	reorderOnly := rep.Batches > 0 && rep.Complete == rep.Batches && rep.Duplicated == 0 &&
		rep.SummaryError == 0 && rep.DeadLettered == 0 && rep.Reordered == len(rep.Problems)
	if !reorderOnly || rep.Reordered > 3 || dead.Load() != 0 {
		t.Errorf("want every acked batch complete, once, in order (but for the race of a lost publish, one batch per stop) and no dead letter; got %s and %d dead letters", rep, dead.Load())
	}
}

// setSubjects changes the subjects a stream captures: taken away, a
// publish on them meets no responders, as while a cluster elects the
// stream's leader; given back, the stream stores again with what it held
// and its duplicate window intact.
func setSubjects(t *testing.T, js jetstream.JetStream, stream string, subjects ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.Subjects = subjects
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// On one server, an output stream that stops answering for a few seconds
// (its subjects taken away, so publishes meet no responders, as in an
// election) and comes back costs time only, even with --max-deliver 3 and
// a 2s AckWait: every batch complete, once, in order, none dead-lettered.
func TestOutputStreamAwayForSecondsCostsNoBatch(t *testing.T) {
	t.Parallel()
	ns, nc := natstest.Start(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := connectors.EnsureResultsStream(ctx, nc, connectors.ResultsStreamConfig{
		Name: "OUT", Subjects: []string{"res", "res.batches"}, Duplicates: 10 * time.Minute}, discardLog()); err != nil {
		t.Fatal(err)
	}
	dead := deadLetters(t, nc)
	setup := clusterSetup()
	setup.Replicas, setup.MaxDeliver = 1, 3
	startWorker(t, workerConfig{url: ns.ClientURL(), setup: setup, results: "res", resultsStream: "OUT"})

	stop := make(chan struct{})
	loaded := loadBatches(t, js, "a", 10, 100*time.Millisecond, stop)
	time.Sleep(2 * time.Second)
	setSubjects(t, js, "OUT", "parked")
	time.Sleep(5 * time.Second)
	setSubjects(t, js, "OUT", "res", "res.batches")
	time.Sleep(2 * time.Second)
	close(stop)
	sizes := loaded()
	settledAll(t, js, 60*time.Second)
	rep := checkOrder(t, js, "OUT", "res", sizes)
	t.Logf("%s; %d dead letters", rep, dead.Load())
	// A publish lost at a leader that hands over at once can be stored
	// after one sent just behind it (docs/delivery.md: results are
	// stored in batch order but for one race): one batch with results out
	// of place per stop at most, nothing lost, incomplete or stored twice.
	reorderOnly := rep.Batches > 0 && rep.Complete == rep.Batches && rep.Duplicated == 0 &&
		rep.SummaryError == 0 && rep.DeadLettered == 0 && rep.Reordered == len(rep.Problems)
	if !reorderOnly || rep.Reordered > 3 || dead.Load() != 0 {
		t.Errorf("want every acked batch complete, once, in order (but for the race of a lost publish, one batch per stop) and no dead letter; got %s and %d dead letters", rep, dead.Load())
	}
}

// An output stream away for longer than the retry bound: the batch is
// handed back with a growing delay (2s, then 4s: not at once), and on its
// last delivery it is dead-lettered carrying its summary, which could not
// be stored, and why.
func TestOutputStreamAwayPastTheBoundDeadLettersWithTheSummary(t *testing.T) {
	t.Parallel()
	ns, nc := natstest.Start(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := connectors.EnsureResultsStream(ctx, nc, connectors.ResultsStreamConfig{
		Name: "OUT", Subjects: []string{"parked"}}, discardLog()); err != nil {
		t.Fatal(err)
	}
	deadMsgs, err := nc.SubscribeSync("dead")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	setup := clusterSetup()
	setup.Replicas, setup.MaxDeliver = 1, 3
	// The publisher looks the stream up by name only: the subjects it
	// publishes on are captured by none now, as while the stream elects.
	startWorker(t, workerConfig{url: ns.ClientURL(), setup: setup, results: "res", resultsStream: "OUT", retryFor: time.Second})
	start := time.Now()
	publishRetrying(t, js, &nats.Msg{Subject: "in", Data: []byte(`{"id":"away","urls":["http://sleep/10","http://sleep/20"]}`)})
	m, err := deadMsgs.NextMsg(45 * time.Second)
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	took := time.Since(start)
	var s wire.Summary
	if err := json.Unmarshal([]byte(m.Header.Get(wire.HeaderDeadSummary)), &s); err != nil {
		t.Fatalf("the dead letter's %s header %q: %v", wire.HeaderDeadSummary, m.Header.Get(wire.HeaderDeadSummary), err)
	}
	if s.BatchID != "away" || s.Error != wire.ErrMaxDeliver {
		t.Errorf("the dead letter carries summary %+v; want batch away ended as max_deliver", s)
	}
	if m.Header.Get(wire.HeaderDeadSummaryError) == "" || m.Header.Get(wire.HeaderDeadDeliveries) != "3" {
		t.Errorf("dead letter headers %v: want why the summary was not stored, and 3 deliveries", m.Header)
	}
	// Two deliveries, each held 1s and handed back after 2s, then 4s.
	if took < 6*time.Second {
		t.Errorf("dead-lettered %s after the batch was published; the hand-back delays (2s, 4s) were not kept", took)
	}
}
