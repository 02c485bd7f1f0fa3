package connectors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
)

// settleRecord is a stages.Settler that records how it was settled.
type settleRecord struct {
	mu       sync.Mutex
	calls    int
	complete bool
	done     chan struct{}
}

func newSettleRecord() *settleRecord { return &settleRecord{done: make(chan struct{})} }

func (s *settleRecord) Done(complete bool, _ error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.complete = complete
	if s.calls == 1 {
		close(s.done)
	}
	return nil
}

func (s *settleRecord) Redeliverable() bool { return true }

func (s *settleRecord) wait(t *testing.T) bool {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the batch was not settled")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.complete
}

// feed sends a batch of n results and its summary into the publisher.
func feed(p *connectors.Publisher, job *stages.Job, n int, body string) {
	for i := range n {
		data := fmt.Sprintf(`{"batch_id":%q,"index":%d,"count":%d,"url":"http://x","elapsed_ms":1,"body":%q}`, job.ID, i, n, body)
		p.In() <- &stages.Encoded{Job: job, Index: i, Data: []byte(data)}
	}
	p.In() <- &stages.Done{Job: job, Summary: wire.Summary{BatchID: job.ID, Count: n, OK: n},
		Data: []byte(fmt.Sprintf(`{"batch_id":%q,"count":%d,"ok":%d}`, job.ID, n, n))}
}

func streamMsgs(t *testing.T, js jetstream.JetStream, subject string) uint64 {
	t.Helper()
	stream, err := js.Stream(context.Background(), "OUT")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// Where the output subjects are in a stream, a batch is settled complete
// only after the stream has acked every result and the summary, and a
// batch published twice (a redelivery) is stored once.
func TestPublisherSettlesAfterStreamAcks(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "OUT", Subjects: []string{"res", "sum"}}); err != nil {
		t.Fatal(err)
	}
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "res", Batches: "sum", MsgIDs: true,
		ResultsStream: "OUT", BatchesStream: "OUT"})
	if err != nil {
		t.Fatal(err)
	}
	for attempt := range 2 {
		settle := newSettleRecord()
		feed(p, &stages.Job{ID: "b1", Settle: settle}, 50, "x")
		if !settle.wait(t) {
			t.Errorf("attempt %d: settled incomplete", attempt)
		}
		if got := streamMsgs(t, js, "res"); got != 50 {
			t.Errorf("attempt %d: settled with %d results stored, want all 50", attempt, got)
		}
		if got := streamMsgs(t, js, "sum"); got != 1 {
			t.Errorf("attempt %d: %d summaries stored, want 1", attempt, got)
		}
	}
	close(p.In())
	p.AwaitCompletion()
}

// A batch whose publishes the stream does not store (here: the stream is
// gone, so they meet no responders, as in an election) is settled
// incomplete, for redelivery, not acked, once the retry bound has passed.
func TestPublisherHandsBackWhatTheStreamRefused(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "OUT", Subjects: []string{"res", "sum"}}); err != nil {
		t.Fatal(err)
	}
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "res", Batches: "sum", MsgIDs: true,
		ResultsStream: "OUT", BatchesStream: "OUT", AckTimeout: 2 * time.Second, RetryFor: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(context.Background(), "OUT"); err != nil {
		t.Fatal(err)
	}
	settle := newSettleRecord()
	feed(p, &stages.Job{ID: "b1", Settle: settle}, 3, "x")
	if settle.wait(t) {
		t.Error("settled complete though nothing was stored")
	}
	close(p.In())
	p.AwaitCompletion()
}

// While the client is disconnected and its reconnect buffer is full, the
// publisher holds publishes rather than dropping them; they all arrive
// once the server is back.
func TestPublisherHoldsWhileDisconnected(t *testing.T) {
	t.Parallel()
	storeDir := t.TempDir()
	ns := natstest.StartRestartable(t, storeDir)
	port := ns.Addr().(*net.TCPAddr).Port
	admin := natstest.Connect(t, ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	js, _ := jetstream.New(admin)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "OUT", Subjects: []string{"res", "sum"},
		Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	nc := natstest.Connect(t, ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectBufSize(4096))
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "res", Batches: "sum"})
	if err != nil {
		t.Fatal(err)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	waitDisconnected(t, nc)
	fed := make(chan struct{})
	// More results than the publisher's input channel holds, and far more
	// bytes than the reconnect buffer: feeding them cannot finish while the
	// server is down unless the publisher drops some.
	n := stages.HandoffBuffer + 40
	go func() {
		defer close(fed)
		feed(p, &stages.Job{ID: "b1"}, n, strings.Repeat("y", 400))
	}()
	select {
	case <-fed:
		t.Fatalf("the publisher took %d results of 400 bytes while disconnected with a 4KB buffer: it dropped some", n)
	case <-time.After(time.Second):
	}
	natstest.StartServerOn(t, storeDir, port)
	<-fed
	close(p.In())
	p.AwaitCompletion()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "every result stored", func() bool { return streamMsgs(t, js, "res") == uint64(n) })
}

func waitDisconnected(t *testing.T, nc *nats.Conn) {
	t.Helper()
	eventually(t, 5*time.Second, "disconnected", func() bool { return !nc.IsConnected() })
}

// CoreSource readiness follows the connection and the drain.
func TestCoreSourceReady(t *testing.T) {
	t.Parallel()
	storeDir := t.TempDir()
	ns := natstest.StartRestartable(t, storeDir)
	port := ns.Addr().(*net.TCPAddr).Port
	nc := natstest.Connect(t, ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := connectors.NewCoreSource(ctx, nc, connectors.CoreSourceConfig{Subject: "in", Queue: "q", PendingMsgs: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(); err != nil {
		t.Fatalf("ready: %v", err)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	eventually(t, 5*time.Second, "not ready while disconnected", func() bool { return errors.Is(s.Ready(), connectors.ErrNotReady) })
	natstest.StartServerOn(t, storeDir, port)
	eventually(t, 10*time.Second, "ready after reconnect", func() bool { return s.Ready() == nil })
	cancel()
	eventually(t, 5*time.Second, "not ready once draining", func() bool { return errors.Is(s.Ready(), connectors.ErrNotReady) })
	for range s.Out() {
	}
}

// With a linger, results still go out each once and in order, the reply
// gathers them all, and the summary comes after the last one.
func TestPublisherLingerKeepsOrder(t *testing.T) {
	t.Parallel()
	ns := natstest.StartServer(t, t.TempDir())
	nc := natstest.Connect(t, ns.ClientURL())
	sub, err := nc.SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	inbox := nats.NewInbox()
	replies, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "res", Batches: "sum",
		Linger: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	go func() {
		feed(p, &stages.Job{ID: "b1", Reply: inbox}, n, "x")
		close(p.In())
	}()
	p.AwaitCompletion()
	for i := range n + 1 {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		want := fmt.Sprintf(`"index":%d,`, i)
		if i == n {
			if m.Subject != "sum" {
				t.Fatalf("after %d results: %s on %s, want the summary", n, m.Data, m.Subject)
			}
			break
		}
		if m.Subject != "res" || !strings.Contains(string(m.Data), want) {
			t.Fatalf("message %d: %s on %s, want result %d", i, m.Data, m.Subject, i)
		}
	}
	reply, err := replies.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(reply.Data), `"batch_id":"b1"`); got != n {
		t.Errorf("the reply holds %d results, want %d", got, n)
	}
}

// With PublisherConfig.Encode (stages.Encoder.Encode, as the service
// runs it), the publisher takes the fetch stage's elements itself: each
// *stages.Fetched is encoded and published in order, and the summary is
// counted from them.
func TestPublisherEncodesOnItsGoroutine(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	enc, err := stages.NewEncoder(stages.EncodeConfig{MaxBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "out", Batches: "batches", Encode: enc.Encode})
	if err != nil {
		t.Fatal(err)
	}
	results, _ := nc.SubscribeSync("out")
	summaries, _ := nc.SubscribeSync("batches")
	_ = nc.Flush()
	job := &stages.Job{ID: "b", Requests: wire.URLs("http://x/0", "http://x/1")}
	p.In() <- &stages.Fetched{Job: job, Result: wire.Result{BatchID: "b", Index: 0, Count: 2, URL: "http://x/0", Status: 200}}
	p.In() <- &stages.Fetched{Job: job, Result: wire.Result{BatchID: "b", Index: 1, Count: 2, URL: "http://x/1", Error: wire.ErrTimeout}}
	p.In() <- &stages.Done{Job: job, Summary: wire.Summary{BatchID: "b", Count: 2}}
	close(p.In())
	p.AwaitCompletion()
	for i, want := range []string{`"url":"http://x/0","status":200`, `"url":"http://x/1","error":"timeout"`} {
		if m, err := results.NextMsg(5 * time.Second); err != nil || !strings.Contains(string(m.Data), want) {
			t.Errorf("result %d: %v, want it to hold %s", i, err, want)
		}
	}
	var s wire.Summary
	if m, err := summaries.NextMsg(5 * time.Second); err != nil || json.Unmarshal(m.Data, &s) != nil {
		t.Fatalf("summary: %v", err)
	}
	if s.OK != 1 || s.Failed != 1 || s.Errors[wire.ErrTimeout] != 1 {
		t.Errorf("summary %+v, want 1 ok and 1 timeout", s)
	}
}

// ReadFrom makes the publisher read the stage before's output itself,
// its In unused; once it reads one source it takes no other.
func TestPublisherReadsTheStageBeforesOutput(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	enc, err := stages.NewEncoder(stages.EncodeConfig{MaxBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "out", Batches: "batches", Encode: enc.Encode})
	if err != nil {
		t.Fatal(err)
	}
	results, _ := nc.SubscribeSync("out")
	_ = nc.Flush()
	out := make(chan any, 2)
	if !p.ReadFrom(out) {
		t.Fatal("ReadFrom refused the first source")
	}
	if p.ReadFrom(make(chan any)) {
		t.Error("ReadFrom took a second source")
	}
	job := &stages.Job{ID: "b", Requests: wire.URLs("http://x/0")}
	out <- &stages.Fetched{Job: job, Result: wire.Result{BatchID: "b", Index: 0, Count: 1, URL: "http://x/0", Status: 200}}
	out <- &stages.Done{Job: job, Summary: wire.Summary{BatchID: "b", Count: 1}}
	close(out)
	p.AwaitCompletion()
	if m, err := results.NextMsg(5 * time.Second); err != nil || !strings.Contains(string(m.Data), `"url":"http://x/0"`) {
		t.Errorf("result: %v, want the one read from the output", err)
	}
}
