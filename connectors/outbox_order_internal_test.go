package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors/natstest"
)

// A publish lost without an answer (sent to a leader as it died, before
// the routes noticed) is stored before a later publish of its batch that
// a new leader would store first: while the oldest publish has waited
// for its ack for a while, a new one waits for it. A core subscriber plays
// the stream: it drops the first copy of a/0, and stores (deduplicating by
// Nats-Msg-Id) and acknowledges every other. Before, a/1 was stored at
// once and a/0 only after its ack timed out: out of batch order.
func TestOutboxLostPublishIsStoredBeforeLaterOnes(t *testing.T) {
	_, nc := natstest.Start(t)
	var mu sync.Mutex
	var stored []string
	seen := map[string]bool{}
	dropped := false
	if _, err := nc.Subscribe("res", func(m *nats.Msg) {
		id := m.Header.Get(nats.MsgIdHdr)
		mu.Lock()
		if id == "a/0" && !dropped {
			dropped = true
			mu.Unlock()
			return
		}
		if !seen[id] {
			seen[id] = true
			stored = append(stored, id)
		}
		mu.Unlock()
		_ = m.Respond([]byte(`{"stream":"S","seq":1}`))
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ackTimeout := 3 * time.Second
	o := newOutbox(ctx, time.Minute, ackTimeout, slog.New(slog.DiscardHandler))
	js, err := jetstream.New(nc, append(o.options(), jetstream.WithPublishAsyncTimeout(ackTimeout))...)
	if err != nil {
		t.Fatal(err)
	}
	o.js = js
	b := newBatchAcks()
	if err := o.publish(msgOf("a", 0), b, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // a new leader is elected; nothing else is published meanwhile
	if err := o.publish(msgOf("a", 1), b, false); err != nil {
		t.Fatal(err)
	}
	o.seal(b)
	select {
	case <-b.done:
	case <-time.After(3 * ackTimeout):
		t.Fatal("the batch's publishes did not end")
	}
	if r := o.outcome(b); r.failed != 0 {
		t.Fatalf("outcome %+v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := fmt.Sprint(stored); got != "[a/0 a/1]" {
		t.Fatalf("stored %s, want [a/0 a/1]", got)
	}
}
