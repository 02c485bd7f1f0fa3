package composetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/wire"
)

// collector reads the results and summaries the stack publishes, as the
// test's NATS client receives them.
type collector struct {
	sub *nats.Subscription
}

func newCollector(t *testing.T, nc *nats.Conn) *collector {
	t.Helper()
	sub := loadtest.Subscribe(t, nc, "fetch.>").Sub
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return &collector{sub: sub}
}

// batchOutcome is what came back for one batch: its results in the order
// they arrived, and its summary.
type batchOutcome struct {
	results []wire.Result
	summary *wire.Summary
}

// await reads until every batch has all its results and its summary, and
// returns them by batch id; it fails t after timeout. Messages of other
// batches are ignored.
func (c *collector) await(t *testing.T, batches []wire.Batch, timeout time.Duration) map[string]*batchOutcome {
	t.Helper()
	out := make(map[string]*batchOutcome, len(batches))
	want := make(map[string]int, len(batches))
	for _, b := range batches {
		out[b.ID] = &batchOutcome{}
		want[b.ID] = len(b.URLs)
	}
	complete, done := make(map[string]bool, len(batches)), 0
	deadline := time.Now().Add(timeout)
	for done < len(batches) {
		m, err := c.sub.NextMsg(time.Until(deadline))
		if errors.Is(err, nats.ErrTimeout) || time.Now().After(deadline) {
			t.Fatalf("%d of %d batches complete after %s", done, len(batches), timeout)
		} else if err != nil {
			t.Fatal(err)
		}
		var batchID string
		switch m.Subject {
		case wire.DefaultResultsSubject:
			var r wire.Result
			if err := json.Unmarshal(m.Data, &r); err != nil {
				t.Fatalf("result %s: %v", m.Data, err)
			}
			if o := out[r.BatchID]; o != nil {
				o.results = append(o.results, r)
			}
			batchID = r.BatchID
		case wire.DefaultBatchesSubject:
			var s wire.Summary
			if err := json.Unmarshal(m.Data, &s); err != nil {
				t.Fatalf("summary %s: %v", m.Data, err)
			}
			if o := out[s.BatchID]; o != nil {
				o.summary = &s
			}
			batchID = s.BatchID
		}
		if o := out[batchID]; o != nil && !complete[batchID] && o.summary != nil && len(o.results) >= want[batchID] {
			complete[batchID] = true
			done++
		}
	}
	return out
}

// checkOrdered fails t unless o holds exactly one result per URL of b,
// arrived in batch order, and a summary that counts them.
func checkOrdered(t *testing.T, b wire.Batch, o *batchOutcome) {
	t.Helper()
	if len(o.results) != len(b.URLs) {
		t.Errorf("batch %s: %d results for %d URLs", b.ID, len(o.results), len(b.URLs))
		return
	}
	ok := 0
	for i, r := range o.results {
		if r.BatchID != b.ID || r.Index != i || r.Count != len(b.URLs) || r.URL != b.URLs[i].URL {
			t.Errorf("batch %s: result %d to arrive = {index %d of %d, %s}, want {index %d of %d, %s}",
				b.ID, i, r.Index, r.Count, r.URL, i, len(b.URLs), b.URLs[i].URL)
		}
		if r.OK() {
			ok++
		}
	}
	if s := o.summary; s.Count != len(b.URLs) || s.OK != ok || s.Failed != len(b.URLs)-ok {
		t.Errorf("batch %s: summary %+v, want count %d, ok %d", b.ID, *s, len(b.URLs), ok)
	}
}
