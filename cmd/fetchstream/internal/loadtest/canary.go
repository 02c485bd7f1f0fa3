package loadtest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/wire"
)

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
