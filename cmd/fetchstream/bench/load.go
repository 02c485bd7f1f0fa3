package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/wire"
)

// batchSize is the URLs per batch of the latency and overhead loads.
const batchSize = 20

// loadRun is the load generator: it publishes batches to a running
// service and waits for all their summaries, timing each batch from its
// publish to its summary and counting results on the way.
//
// It keeps its own bookkeeping rather than gathering through wire/client:
// a load is thousands of batches in flight at once, read on one
// subscription to the results and one to the summaries, and a batch's
// latency is measured from its own publish.
type loadRun struct {
	nc       *nats.Conn
	subjects subjects
	expect   int // summaries that end the load

	mu        sync.Mutex // guards the fields below it
	published map[string]time.Time
	latency   map[string]time.Duration // one per batch summarized
	failed    int
	allDone   chan struct{} // closed once, by the summary that completes the load

	results    atomic.Int64
	resultsSub *nats.Subscription
}

// newLoadRun subscribes to the results and summaries of a load of
// batches batches; cleanup unsubscribes.
func newLoadRun(nc *nats.Conn, s subjects, batches int) (*loadRun, func(), error) {
	l := &loadRun{nc: nc, subjects: s, published: map[string]time.Time{}, latency: map[string]time.Duration{},
		allDone: make(chan struct{}), expect: batches}
	results, err := nc.Subscribe(s.out, func(*nats.Msg) { l.results.Add(1) })
	if err != nil {
		return nil, nil, err
	}
	summaries, err := nc.Subscribe(s.batches, l.onSummary)
	if err != nil {
		_ = results.Unsubscribe()
		return nil, nil, err
	}
	for _, sub := range []*nats.Subscription{results, summaries} {
		_ = sub.SetPendingLimits(-1, -1)
	}
	l.resultsSub = results
	cleanup := func() { _ = results.Unsubscribe(); _ = summaries.Unsubscribe() }
	return l, cleanup, nc.Flush()
}

// onSummary records the first summary of each published batch. A second
// summary of a batch (a redelivery, a duplicate) changes nothing: the
// batch was counted once, and allDone is closed once.
func (l *loadRun) onSummary(m *nats.Msg) {
	var s wire.Summary
	if json.Unmarshal(m.Data, &s) != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	start, published := l.published[s.BatchID]
	if _, seen := l.latency[s.BatchID]; !published || seen {
		return
	}
	l.latency[s.BatchID] = time.Since(start)
	l.failed += s.Failed
	if s.Error != "" {
		l.failed += max(s.Count, 1)
	}
	if len(l.latency) == l.expect {
		close(l.allDone)
	}
}

func (l *loadRun) publish(b wire.Batch) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.published[b.ID] = time.Now()
	l.mu.Unlock()
	return l.nc.Publish(l.subjects.in, data)
}

// wait blocks until every batch has its summary, and then until the
// results subscription has handed over what it holds (its handler runs
// apart from the summaries', so it may be behind).
func (l *loadRun) wait(ctx context.Context, timeout time.Duration) error {
	select {
	case <-l.allDone:
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if msgs, _, err := l.resultsSub.Pending(); err != nil || msgs == 0 {
				break
			}
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(timeout):
		return fmt.Errorf("only %d of %d batches done after %s", l.done(), l.expect, timeout)
	}
}

// done is the number of batches summarized so far.
func (l *loadRun) done() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.latency)
}

// failures is the number of URLs failed so far, as the summaries count
// them (a batch refused whole counts all its URLs).
func (l *loadRun) failures() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

func (l *loadRun) batchLatency(id string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.latency[id]
}

// latencies returns the batch latencies measured so far.
func (l *loadRun) latencies() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := make([]time.Duration, 0, len(l.latency))
	for _, d := range l.latency {
		all = append(all, d)
	}
	return all
}

// percentiles returns p50 and p99 of the batch latencies.
func (l *loadRun) percentiles() (p50, p99 time.Duration) { return percentiles(l.latencies()) }

// allResults waits briefly for the results subscription to hand over n
// results (its handler runs apart from the summaries') and says which
// were lost if they do not all come.
func (l *loadRun) allResults(n int) error {
	for deadline := time.Now().Add(2 * time.Second); l.results.Load() < int64(n) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := l.results.Load(); got != int64(n) {
		dropped, _ := l.resultsSub.Dropped()
		return fmt.Errorf("%d results for %d URLs (dropped by the client: %d, reconnects: %d)",
			got, n, dropped, l.nc.Stats().Reconnects)
	}
	return nil
}

func percentiles(all []time.Duration) (p50, p99 time.Duration) {
	if len(all) == 0 {
		return 0, 0
	}
	slices.Sort(all)
	return all[len(all)*50/100], all[min(len(all)-1, len(all)*99/100)]
}

// makeBatches is count batches of size URLs, all url, with ids
// prefix-0, prefix-1, ...
func makeBatches(prefix string, count, size int, url string) []wire.Batch {
	batches := make([]wire.Batch, count)
	for i := range batches {
		urls := make([]string, size)
		for j := range urls {
			urls[j] = url
		}
		batches[i] = wire.Batch{ID: fmt.Sprintf("%s-%d", prefix, i), URLs: wire.URLs(urls...)}
	}
	return batches
}
