package connectors_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
)

// logBuffer collects a logger's output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// jsFixture is a JetStream server, a client, and the input setup tests use.
type jsFixture struct {
	t     *testing.T
	nc    *nats.Conn
	js    jetstream.JetStream
	setup connectors.ConsumerSetup
	logs  *logBuffer
}

func newJSFixture(t *testing.T) *jsFixture {
	t.Helper()
	_, nc := natstest.Start(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &jsFixture{t: t, nc: nc, js: js, logs: &logBuffer{}, setup: connectors.ConsumerSetup{
		Stream: "IN", Subject: "in", Durable: "workers", AckWait: 2 * time.Second, MaxDeliver: 3, MaxAckPending: 100}}
}

// source starts a connectors.JetStreamSource stopped when the test ends.
func (f *jsFixture) source(maxPending int) (*connectors.JetStreamSource, context.CancelFunc) {
	f.t.Helper()
	return f.sourceWaiting(maxPending, 0)
}

// sourceWaiting is source with MaxWaiting set.
func (f *jsFixture) sourceWaiting(maxPending, maxWaiting int) (*connectors.JetStreamSource, context.CancelFunc) {
	f.t.Helper()
	dead, err := connectors.NewDeadLetter(context.Background(), f.nc, "dead")
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := connectors.NewJetStreamSource(ctx, f.nc, connectors.JetStreamSourceConfig{ConsumerSetup: f.setup, MaxPending: maxPending,
		MaxWaiting: maxWaiting, PollWait: time.Second, DeadLetter: dead, Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
	if err != nil {
		cancel()
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		cancel()
		for element := range s.Out() {
			_ = element.(*stages.Inbound).Settle.Done(false, nil)
		}
	})
	return s, cancel
}

func (f *jsFixture) publish(data string, header nats.Header) {
	f.t.Helper()
	if _, err := f.js.PublishMsg(context.Background(), &nats.Msg{Subject: f.setup.Subject, Data: []byte(data), Header: header}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *jsFixture) consumerInfo() *jetstream.ConsumerInfo {
	f.t.Helper()
	cons, err := f.js.Consumer(context.Background(), f.setup.Stream, f.setup.Durable)
	if err != nil {
		f.t.Fatal(err)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return info
}

func next(t *testing.T, s *connectors.JetStreamSource, timeout time.Duration) *stages.Inbound {
	t.Helper()
	select {
	case element, ok := <-s.Out():
		if !ok {
			t.Fatal("source closed")
		}
		return element.(*stages.Inbound)
	case <-time.After(timeout):
		t.Fatalf("nothing from the source within %s", timeout)
	}
	return nil
}

func nothingFrom(t *testing.T, s *connectors.JetStreamSource, wait time.Duration) {
	t.Helper()
	select {
	case element := <-s.Out():
		t.Fatalf("unexpected element %+v", element)
	case <-time.After(wait):
	}
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
	}
}

// Each way of settling does what it says to the consumer: an ack removes
// the batch, a nak brings it back at once, a rejection dead-letters it with
// its reason and never delivers it again.
func TestJetStreamSourceSettles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		complete  bool
		reject    error
		redeliver bool
		deadKind  string
	}{
		{name: "complete is acked", complete: true},
		{name: "incomplete is nak'ed for redelivery", complete: false, redeliver: true},
		{name: "rejected is dead-lettered", reject: &stages.BatchError{Kind: wire.ErrInvalidBatch, Message: "no URLs"},
			deadKind: wire.DeadInvalidBatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newJSFixture(t)
			dead, err := f.nc.SubscribeSync("dead")
			if err != nil {
				t.Fatal(err)
			}
			s, _ := f.source(4)
			f.publish("http://a\nhttp://b", nats.Header{wire.HeaderBatchID: {"b1"}})
			in := next(t, s, 5*time.Second)
			if in.HeaderID != "b1" || !in.Settle.Redeliverable() {
				t.Fatalf("inbound %+v: want batch id b1 and a redeliverable settler", in)
			}
			if err := in.Settle.Done(c.complete, c.reject); err != nil {
				t.Fatal(err)
			}
			if err := in.Settle.Done(true, nil); err != nil {
				t.Fatalf("a second Done must do nothing, got %v", err)
			}
			if c.redeliver {
				again := next(t, s, 5*time.Second)
				if again.HeaderID != "b1" || f.consumerInfo().NumRedelivered != 1 {
					t.Errorf("redelivery %q, %d redelivered; want b1 redelivered once", again.HeaderID, f.consumerInfo().NumRedelivered)
				}
				_ = again.Settle.Done(true, nil)
			} else {
				nothingFrom(t, s, 3*time.Second) // past the 2s AckWait: not redelivered
			}
			if c.deadKind != "" {
				m, err := dead.NextMsg(5 * time.Second)
				if err != nil {
					t.Fatal("no dead letter")
				}
				if got := m.Header.Get(wire.HeaderDeadKind); got != c.deadKind || string(m.Data) != "http://a\nhttp://b" ||
					m.Header.Get(wire.HeaderBatchID) != "b1" || m.Header.Get(wire.HeaderDeadReason) != "no URLs" {
					t.Errorf("dead letter %v %q, want kind %s, the original data and headers, and the reason", m.Header, m.Data, c.deadKind)
				}
			} else if m, err := dead.NextMsg(100 * time.Millisecond); err == nil {
				t.Errorf("unexpected dead letter %v", m.Header)
			}
			eventually(t, 5*time.Second, "nothing pending on the consumer", func() bool {
				info := f.consumerInfo()
				return info.NumAckPending == 0 && info.NumPending == 0
			})
		})
	}
}

// A batch on its MaxDeliver-th delivery is emitted marked Reject (so the
// pipeline gives it a summary, not a fetch); settled as the sink settles
// a rejected batch, it goes to the dead-letter subject with the reason,
// and is terminated.
func TestJetStreamSourceDeadLettersLastDelivery(t *testing.T) {
	t.Parallel()
	f := newJSFixture(t)
	f.setup.AckWait, f.setup.MaxDeliver = time.Second, 2
	dead, err := f.nc.SubscribeSync("dead")
	if err != nil {
		t.Fatal(err)
	}
	// A worker takes the batch and dies without settling it: delivery 1.
	ctx := context.Background()
	if _, err := f.js.CreateStream(ctx, jetstream.StreamConfig{Name: "IN", Subjects: []string{"in"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := f.js.CreateConsumer(ctx, "IN", jetstream.ConsumerConfig{Durable: "workers",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Second, MaxDeliver: 2, MaxAckPending: 100, FilterSubject: "in"})
	if err != nil {
		t.Fatal(err)
	}
	f.publish(`["http://poison"]`, nil)
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if m := <-batch.Messages(); m == nil {
		t.Fatal("the first delivery did not come")
	}
	s, _ := f.source(4) // gets delivery 2 once the AckWait has run out
	in := next(t, s, 10*time.Second)
	if in.Reject == nil || in.Reject.Kind != wire.ErrMaxDeliver || !strings.Contains(in.Reject.Message, "max deliver 2") {
		t.Fatalf("last delivery emitted with reject %+v, want max_deliver and the reason", in.Reject)
	}
	if err := in.Settle.Done(true, in.Reject); err != nil {
		t.Fatal(err)
	}
	m, err := dead.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal("no dead letter")
	}
	if m.Header.Get(wire.HeaderDeadKind) != wire.DeadMaxDeliver || m.Header.Get(wire.HeaderDeadDeliveries) != "2" ||
		!strings.Contains(m.Header.Get(wire.HeaderDeadReason), "max deliver 2") || string(m.Data) != `["http://poison"]` {
		t.Errorf("dead letter %v %q", m.Header, m.Data)
	}
	nothingFrom(t, s, 500*time.Millisecond)
	eventually(t, 5*time.Second, "the poison batch is terminated", func() bool {
		info := f.consumerInfo()
		return info.NumAckPending == 0 && info.NumPending == 0
	})
	if got := s.Stats().DeadLettered; got != 1 {
		t.Errorf("dead-lettered %d, want 1", got)
	}
	// The log line says term_err only when terminating failed.
	if logs := f.logs.String(); !strings.Contains(logs, "batch dead-lettered") || strings.Contains(logs, "term_err") {
		t.Errorf("the dead-letter log line, with no error to terminate, says term_err:\n%s", logs)
	}
}

// An existing stream and consumer are used as they are, whatever the
// flags say, with a warning; a consumer fetchstream cannot work with is
// refused.
func TestJetStreamSourceAttachesUnchanged(t *testing.T) {
	t.Parallel()
	f := newJSFixture(t)
	ctx := context.Background()
	if _, err := f.js.CreateStream(ctx, jetstream.StreamConfig{Name: "IN", Subjects: []string{"in", "other"}}); err != nil {
		t.Fatal(err)
	}
	existing := jetstream.ConsumerConfig{Durable: "workers", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 7 * time.Second, MaxDeliver: 9, MaxAckPending: 50, FilterSubject: "in"}
	if _, err := f.js.CreateConsumer(ctx, "IN", existing); err != nil {
		t.Fatal(err)
	}
	s, _ := f.source(4)
	info := f.consumerInfo()
	if info.Config.AckWait != 7*time.Second || info.Config.MaxDeliver != 9 || info.Config.MaxAckPending != 50 {
		t.Errorf("consumer changed: %+v", info.Config)
	}
	stream, err := f.js.Stream(ctx, "IN")
	if err != nil {
		t.Fatal(err)
	}
	if subjects := stream.CachedInfo().Config.Subjects; len(subjects) != 2 {
		t.Errorf("stream subjects changed: %v", subjects)
	}
	if !strings.Contains(f.logs.String(), "differs from the flags") || !strings.Contains(f.logs.String(), "nats consumer rm -f IN workers") ||
		!strings.Contains(f.logs.String(), "another --durable name") || strings.Contains(f.logs.String(), "--data-dir") {
		t.Errorf("no warning about the differing consumer saying how to get the flags' settings; logs:\n%s", f.logs)
	}
	if !strings.Contains(f.logs.String(), `msg="consuming from JetStream" stream=IN durable=workers ack_wait=7s max_deliver=9`) {
		t.Errorf("the source does not say it uses the consumer's own ack wait and max deliver; logs:\n%s", f.logs)
	}
	_ = s

	if _, err := f.js.CreateConsumer(ctx, "IN", jetstream.ConsumerConfig{Durable: "acknone",
		AckPolicy: jetstream.AckNonePolicy, FilterSubject: "other"}); err != nil {
		t.Fatal(err)
	}
	f.setup.Durable = "acknone"
	dead, _ := connectors.NewDeadLetter(ctx, f.nc, "dead")
	_, err = connectors.NewJetStreamSource(ctx, f.nc, connectors.JetStreamSourceConfig{ConsumerSetup: f.setup, MaxPending: 1, DeadLetter: dead})
	if !errors.Is(err, connectors.ErrConfig) || !strings.Contains(err.Error(), "explicit acks") {
		t.Errorf("consumer without explicit acks: got %v, want a refusal", err)
	}
}

// A held batch outlives the AckWait: the source sends InProgress until it
// is settled, so the server does not redeliver it.
func TestJetStreamSourceKeepsLongBatchesAlive(t *testing.T) {
	t.Parallel()
	f := newJSFixture(t)
	s, _ := f.source(4) // AckWait 2s
	f.publish(`["http://slow"]`, nil)
	in := next(t, s, 5*time.Second)
	nothingFrom(t, s, 5*time.Second) // two and a half AckWaits
	if info := f.consumerInfo(); info.NumRedelivered != 0 || info.NumAckPending != 1 {
		t.Errorf("consumer: %d redelivered, %d pending ack; want 0 and 1", info.NumRedelivered, info.NumAckPending)
	}
	_ = in.Settle.Done(true, nil)
	eventually(t, 5*time.Second, "acked", func() bool { return f.consumerInfo().NumAckPending == 0 })
}

// The source holds at most MaxPending unsettled messages: it does not even
// pull more, so the rest stay in the stream for other replicas.
func TestJetStreamSourcePullsOnlyWhatItCanHold(t *testing.T) {
	t.Parallel()
	f := newJSFixture(t)
	s, _ := f.source(3)
	for range 10 {
		f.publish(`["http://x"]`, nil)
	}
	held := []*stages.Inbound{next(t, s, 5*time.Second), next(t, s, 5*time.Second), next(t, s, 5*time.Second)}
	nothingFrom(t, s, time.Second)
	info := f.consumerInfo()
	if info.NumAckPending != 3 || info.NumPending != 7 {
		t.Errorf("consumer: %d pending ack, %d not delivered; want 3 and 7", info.NumAckPending, info.NumPending)
	}
	_ = held[0].Settle.Done(true, nil)
	fourth := next(t, s, 5*time.Second)
	if got := f.consumerInfo().NumAckPending; got > 3 {
		t.Errorf("%d pending ack after settling one, want at most 3", got)
	}
	for _, in := range append(held[1:], fourth) {
		_ = in.Settle.Done(true, nil)
	}
}

// The bound holds while a quick consumer settles batch after batch: the
// source never holds more than MaxPending, and every batch is acked.
func TestJetStreamSourceBoundHoldsUnderChurn(t *testing.T) {
	t.Parallel()
	f := newJSFixture(t)
	const maxPending, batches = 2, 200
	s, _ := f.source(maxPending) // creates the stream
	for range batches {
		f.publish(`["http://x"]`, nil)
	}
	var most atomic.Int64
	sampling, stopSampling := context.WithCancel(context.Background())
	t.Cleanup(stopSampling) // also when the loop below fails the test
	sampled := make(chan struct{})
	go func() { // watch the source's count while the loop below settles
		defer close(sampled)
		for sampling.Err() == nil {
			if held := int64(s.Stats().Held); held > most.Load() {
				most.Store(held)
			}
			runtime.Gosched()
		}
	}()
	for range batches {
		in := next(t, s, 5*time.Second)
		if err := in.Settle.Done(true, nil); err != nil {
			t.Fatal(err)
		}
	}
	stopSampling()
	<-sampled
	if most := most.Load(); most > maxPending {
		t.Errorf("the source held up to %d batches, want at most MaxPending = %d", most, maxPending)
	}
	if acked := s.Stats().Acked; acked != batches {
		t.Errorf("%d acked, want %d", acked, batches)
	}
	eventually(t, 5*time.Second, "every ack counted by the server", func() bool {
		info := f.consumerInfo()
		return info.NumAckPending == 0 && info.NumPending == 0
	})
}

// On cancel the source stops pulling and closes Out, keeps what it
// emitted alive until settled, and reports not ready.
func TestJetStreamSourceDrains(t *testing.T) {
	t.Parallel()
	f := newJSFixture(t)
	s, cancel := f.source(4) // AckWait 2s
	if err := s.Ready(); err != nil {
		t.Fatalf("ready: %v", err)
	}
	f.publish(`["http://a"]`, nil)
	in := next(t, s, 5*time.Second)
	cancel()
	select {
	case _, open := <-s.Out():
		if open {
			t.Fatal("an element after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Out not closed after cancel")
	}
	if err := s.Ready(); !errors.Is(err, connectors.ErrNotReady) {
		t.Errorf("ready while draining: %v", err)
	}
	// The client drops the canceled pull's inbox just after Out closes;
	// once the server has seen that, no pull of this source is waiting.
	eventually(t, 5*time.Second, "no pull request waiting", func() bool { return f.consumerInfo().NumWaiting == 0 })
	f.publish(`["http://b"]`, nil)
	time.Sleep(3500 * time.Millisecond) // past the AckWait: the held one is kept alive
	info := f.consumerInfo()
	if info.NumRedelivered != 0 || info.NumAckPending != 1 || info.NumPending != 1 {
		t.Errorf("consumer while draining: %d redelivered, %d pending ack, %d not delivered; want 0, 1, 1",
			info.NumRedelivered, info.NumAckPending, info.NumPending)
	}
	select {
	case <-s.Settled():
		t.Fatal("settled before the held batch was")
	default:
	}
	_ = in.Settle.Done(true, nil)
	select {
	case <-s.Settled():
	case <-time.After(5 * time.Second):
		t.Fatal("not settled after the last batch was")
	}
}

// Readiness follows the connection through a server restart, and pulling
// resumes after it.
func TestJetStreamSourceReadyAcrossRestart(t *testing.T) {
	t.Parallel()
	storeDir := t.TempDir()
	ns := natstest.StartRestartable(t, storeDir)
	nc := natstest.Connect(t, ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	js, _ := jetstream.New(nc)
	f := &jsFixture{t: t, nc: nc, js: js, logs: &logBuffer{}, setup: connectors.ConsumerSetup{
		Stream: "IN", Subject: "in", Durable: "workers", AckWait: 2 * time.Second, MaxDeliver: 3, MaxAckPending: 100}}
	s, _ := f.source(4)
	eventually(t, 5*time.Second, "ready", func() bool { return s.Ready() == nil })
	port := ns.Addr().(*net.TCPAddr).Port
	ns.Shutdown()
	ns.WaitForShutdown()
	eventually(t, 5*time.Second, "not ready while the server is down", func() bool { return errors.Is(s.Ready(), connectors.ErrNotReady) })
	natstest.StartServerOn(t, storeDir, port)
	eventually(t, 15*time.Second, "ready after the restart", func() bool { return s.Ready() == nil })
	f.publish(`["http://after"]`, nil)
	in := next(t, s, 15*time.Second)
	_ = in.Settle.Done(true, nil)
}

// A batch dead-lettered on its last delivery still ends with a summary
// that names it, through the whole pipeline, without being fetched; and
// a dead-letter publish that cannot go through (its stream is gone) holds
// up neither the intake nor the next batch.
func TestJetStreamLastDeliveryEndsWithSummary(t *testing.T) {
	t.Parallel()
	f := newJSFixture(t)
	f.setup.AckWait, f.setup.MaxDeliver = 20*time.Second, 2
	ctx := context.Background()
	if _, err := f.js.CreateStream(ctx, jetstream.StreamConfig{Name: "DEAD", Subjects: []string{"dead"}}); err != nil {
		t.Fatal(err)
	}
	dead, err := connectors.NewDeadLetter(ctx, f.nc, "dead") // finds the stream: publishes wait for its ack
	if err != nil {
		t.Fatal(err)
	}
	if err := f.js.DeleteStream(ctx, "DEAD"); err != nil { // now every dead-letter publish fails until AckWait
		t.Fatal(err)
	}
	// A worker takes the batch and hands it back: delivery 1 of 2.
	if _, err := f.js.CreateStream(ctx, jetstream.StreamConfig{Name: "IN", Subjects: []string{"in"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := f.js.CreateConsumer(ctx, "IN", jetstream.ConsumerConfig{Durable: "workers",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: f.setup.AckWait, MaxDeliver: 2, MaxAckPending: 100, FilterSubject: "in"})
	if err != nil {
		t.Fatal(err)
	}
	f.publish(`{"id": "poison", "correlation_id": "list-1", "urls": ["http://poison/1", "http://poison/2"]}`, nil)
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	m := <-batch.Messages()
	if m == nil {
		t.Fatal("the first delivery did not come")
	}
	_ = m.Nak()
	f.publish(`["http://good/"]`, nats.Header{wire.HeaderBatchID: {"good"}})

	summaries, err := f.nc.SubscribeSync("batches")
	if err != nil {
		t.Fatal(err)
	}
	srcCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := connectors.NewJetStreamSource(srcCtx, f.nc, connectors.JetStreamSourceConfig{ConsumerSetup: f.setup, MaxPending: 4,
		PollWait: time.Second, DeadLetter: dead, Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	fetcher := &okFetcher{}
	chain(t, srcCtx, f.nc, s, fetcher)

	got := map[string]wire.Summary{}
	for range 2 {
		sum := nextSummary(t, summaries) // within 10s, half the AckWait the stalled dead letter holds out for
		got[sum.BatchID] = sum
	}
	if p := got["poison"]; p.Error != "max_deliver" || p.Count != 2 || p.CorrelationID != "list-1" ||
		!strings.Contains(p.Message, "max deliver 2") {
		t.Errorf("poison summary %+v: want max_deliver, count 2, its correlation id and the reason", p)
	}
	if g := got["good"]; g.Error != "" || g.OK != 1 {
		t.Errorf("good summary %+v: want it fetched while the dead letter is stuck", g)
	}
	if n := fetcher.fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1: the poison batch must not be fetched", n)
	}
}
