package service

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// Core mode under overload: the client buffers at most --pending-batches;
// past that NATS drops batches for this replica, the log says so plainly,
// and the service keeps serving.
func TestCoreOverloadIsBoundedAndLogged(t *testing.T) {
	t.Parallel()
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	s := start(t, url, func(c *Config) { c.Fetch.Concurrency, c.Fetch.MaxActive, c.Core.PendingBatches = 1, 1, 5 })
	l := loadtest.Same(target, 100, 1, "/delay/100")
	loadtest.PublishCore(t, nc, l, 0, l.Batches)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	loadtest.WaitFor(t, 20*time.Second, "a slow-consumer log", func() bool { return strings.Contains(s.logs.String(), "slow consumer") })
	line, lastDropped := "", -1
	for _, l := range strings.Split(s.logs.String(), "\n") {
		if !strings.Contains(l, "slow consumer") {
			continue
		}
		line = l
		var event struct {
			Dropped int `json:"dropped_total"`
		}
		if err := json.Unmarshal([]byte(l), &event); err != nil {
			t.Fatalf("slow-consumer log %q: %v", l, err)
		}
		if event.Dropped <= lastDropped {
			t.Errorf("slow-consumer log repeated with no more batches dropped (%d after %d): %s", event.Dropped, lastDropped, l)
		}
		lastDropped = event.Dropped
	}
	for _, want := range []string{"dropped_total", `"pending_batches_limit":5`, "--jetstream"} {
		if !strings.Contains(line, want) {
			t.Errorf("slow-consumer log lacks %s: %s", want, line)
		}
	}
	t.Log(line)
	// Still serving once the flood has passed.
	time.Sleep(2 * time.Second)
	data, _ := json.Marshal([]string{target.URL("/text")})
	reply, err := nc.Request(wire.DefaultInSubject, data, 20*time.Second)
	if err != nil {
		t.Fatalf("no reply after the overload: %v", err)
	}
	var got []wire.Result
	if err := json.Unmarshal(reply.Data, &got); err != nil || len(got) != 1 || !got[0].OK() {
		t.Errorf("reply after the overload: %s", reply.Data)
	}
}

// JetStream mode under overload: a replica holds at most --max-active+2
// batches unsettled; the rest wait in the stream, not in its memory.
func TestJetStreamOverloadIsBounded(t *testing.T) {
	t.Parallel()
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	js, _ := jetstream.New(nc)
	target := fetchtest.NewTarget(t)
	got := loadtest.Collect(t, nc)
	s := start(t, url, func(c *Config) {
		c.JetStream.Enabled, c.Fetch.Concurrency, c.Fetch.MaxActive, c.Ops.MetricsAddr = true, 2, 2, "127.0.0.1:0"
	})
	ops := opsAddr(s)
	l := loadtest.Same(target, 40, 2, "/delay/100")
	loadtest.PublishJS(t, js, l, 0, l.Batches)
	maxHeld, maxWaiting, maxAckPending := 0, uint64(0), 0
	loadtest.WaitFor(t, 60*time.Second, "every batch done", func() bool {
		maxHeld = max(maxHeld, int(gauge(t, ops, "fetchstream_input_held_messages")))
		ackPending, pending := loadtest.ConsumerState(t, js)
		maxWaiting, maxAckPending = max(maxWaiting, pending), max(maxAckPending, ackPending)
		_, _, s := got.Counts()
		return s == l.Batches
	})
	// The server's count can run one or two over: it takes acks and pull
	// requests on separate queues, so it may count an ack after the pull
	// that the ack made room for.
	t.Logf("JetStream overload: the replica held at most %d batches (the server counted up to %d), up to %d waited in the stream",
		maxHeld, maxAckPending, maxWaiting)
	if maxHeld > 4 || maxHeld < 2 {
		t.Errorf("the replica held up to %d batches, want --max-active (2) to --max-active+2 (4)", maxHeld)
	}
	if maxWaiting < 10 {
		t.Errorf("at most %d batches waited in the stream; the load did not overload the replica", maxWaiting)
	}
	// A batch is acked after its summary is out (and a flush), so the
	// count may trail the summaries for a moment.
	loadtest.WaitFor(t, 10*time.Second, "every batch acked", func() bool {
		return gauge(t, ops, `fetchstream_input_settled_total{outcome="ack"}`) == float64(l.Batches)
	})
}

// In JetStream mode a batch that cannot be decoded is reported on the
// summary subject, sent to the dead-letter subject with the reason, and
// terminated at once: never delivered again.
func TestJetStreamDeadLettersUndecodable(t *testing.T) {
	t.Parallel()
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	js, _ := jetstream.New(nc)
	summaries := loadtest.Subscribe(t, nc, wire.DefaultBatchesSubject)
	dead := loadtest.Subscribe(t, nc, wire.DefaultDeadLetterSubject)
	start(t, url, func(c *Config) { c.JetStream.Enabled, c.JetStream.AckWait = true, time.Second })
	ctx := context.Background()
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: wire.DefaultInSubject, Data: []byte(`{"urls": [`),
		Header: nats.Header{wire.HeaderBatchID: {"broken"}}}); err != nil {
		t.Fatal(err)
	}
	var s wire.Summary
	summaries.Next(&s, 10*time.Second)
	if s.BatchID != "broken" || s.Error != wire.ErrInvalidBatch {
		t.Errorf("summary %+v, want batch broken rejected as invalid_batch", s)
	}
	m, err := dead.Sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal("no dead letter")
	}
	if m.Header.Get(wire.HeaderDeadKind) != wire.DeadInvalidBatch || m.Header.Get(wire.HeaderDeadReason) == "" ||
		m.Header.Get(wire.HeaderDeadDeliveries) != "1" || string(m.Data) != `{"urls": [` {
		t.Errorf("dead letter %v %q", m.Header, m.Data)
	}
	time.Sleep(2500 * time.Millisecond) // more than two AckWaits
	if extra, err := summaries.Sub.NextMsg(100 * time.Millisecond); err == nil {
		t.Errorf("the bad batch came again: %s", extra.Data)
	}
	if ackPending, pending := loadtest.ConsumerState(t, js); ackPending != 0 || pending != 0 {
		t.Errorf("consumer: %d pending ack, %d not delivered; want none", ackPending, pending)
	}
}
