package loadtest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/wire"
)

// Subscription reads the JSON messages of one subject, in the order the
// server delivered them. Sub is the subscription itself, for a test that
// reads raw messages.
type Subscription struct {
	t   testing.TB
	Sub *nats.Subscription
}

// Subscribe subscribes synchronously to subject with no limit on pending
// messages, so that a test that reads late loses nothing as a slow
// consumer, and flushes, so that the server has the interest before the
// test publishes. The subscription ends with nc.
func Subscribe(t testing.TB, nc *nats.Conn, subject string) *Subscription {
	t.Helper()
	sub := subscribeUnlimited(t, nc, subject, nil)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &Subscription{t: t, Sub: sub}
}

// subscribeUnlimited subscribes to subject, synchronously when handle is
// nil, and lifts the subscription's pending limits; it does not flush.
func subscribeUnlimited(t testing.TB, nc *nats.Conn, subject string, handle nats.MsgHandler) *nats.Subscription {
	t.Helper()
	var sub *nats.Subscription
	var err error
	if handle == nil {
		sub, err = nc.SubscribeSync(subject)
	} else {
		sub, err = nc.Subscribe(subject, handle)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	return sub
}

// Next decodes the next message into v, failing the test if none comes
// within timeout or it is not JSON that fits v.
func (s *Subscription) Next(v any, timeout time.Duration) {
	s.t.Helper()
	m, err := s.Sub.NextMsg(timeout)
	if err != nil {
		s.t.Fatalf("no message on %s within %s: %v", s.Sub.Subject, timeout, err)
	}
	if err := json.Unmarshal(m.Data, v); err != nil {
		s.t.Fatalf("message on %s: %v: %s", s.Sub.Subject, err, m.Data)
	}
}

// Results reads the next n messages as results, each within timeout.
func (s *Subscription) Results(n int, timeout time.Duration) []wire.Result {
	s.t.Helper()
	out := make([]wire.Result, n)
	for i := range out {
		s.Next(&out[i], timeout)
	}
	return out
}

// RequestBatch sends batch on subject by request-reply, as `nats request`
// does, and returns the reply's results in order. It fails the test if no
// reply comes within 20s or the reply is not one result per URL of batch.
func RequestBatch(t testing.TB, nc *nats.Conn, subject string, batch wire.Batch) []wire.Result {
	t.Helper()
	data, err := json.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := nc.Request(subject, data, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var results []wire.Result
	if err := json.Unmarshal(reply.Data, &results); err != nil || len(results) != len(batch.URLs) {
		t.Fatalf("reply %.300s: %v", reply.Data, err)
	}
	return results
}

// CanaryBudget is how long a canary may take while an attack runs: "within
// about a second", with room for a loaded CI machine running -race.
const CanaryBudget = 2 * time.Second

// Canary sends a one-URL batch for url on subject by request-reply and
// fails t unless its one result succeeds within budget; it returns how
// long the answer took. Attack tests send one while the attack runs, to
// another host than the attack's (127.0.0.2, say): whatever one publisher
// does, another publisher's small batch is still answered promptly.
// Call it from the test's goroutine.
func Canary(t testing.TB, nc *nats.Conn, subject, url string, budget time.Duration) time.Duration {
	t.Helper()
	data, err := json.Marshal(wire.Batch{ID: "canary-" + nats.NewInbox()[len(nats.InboxPrefix):], URLs: wire.URLs(url)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	reply, err := nc.Request(subject, data, budget+10*time.Second)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("canary to %s: no answer within %s: %v", url, budget+10*time.Second, err)
	}
	var results []wire.Result
	if err := json.Unmarshal(reply.Data, &results); err != nil || len(results) != 1 {
		t.Fatalf("canary to %s: reply %.300s: %v", url, reply.Data, err)
	}
	if r := results[0]; r.Error != "" {
		t.Fatalf("canary to %s failed after %s: %s %s", url, took, r.Error, r.Message)
	}
	if took > budget {
		t.Fatalf("canary to %s answered after %s, over its budget of %s", url, took.Round(time.Millisecond), budget)
	}
	return took
}
