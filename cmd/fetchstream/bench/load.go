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

// maxOutstanding bounds the batches a load has published and not yet seen
// summarized: enough to keep a service at its default --max-active (256)
// busy with as many again waiting, and well under what a core-mode replica
// buffers (--pending-batches, 1,024), so that a load of any size is never
// dropped by a slow consumer.
const maxOutstanding = 512

// stallTimeout ends a load that has made no progress for this long: no
// batch published or summarized, no result received. A long batch still
// sends its results as it goes.
const stallTimeout = 30 * time.Second

// loadRun is the load generator: it publishes batches to a running
// service, at most maxOutstanding awaiting their summaries at a time, and
// waits for all the summaries, timing each batch from its publish to its
// summary and counting results on the way.
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
	progress  time.Time     // the last publish or first summary of a batch

	// outstanding holds a token per batch published and not yet
	// summarized: publish puts one in, blocking while it is full, and the
	// batch's first summary takes one out.
	outstanding chan struct{}
	stall       time.Duration // stallTimeout; shorter in tests

	results    atomic.Int64
	resultsSub *nats.Subscription
}

// newLoadRun subscribes to the results and summaries of a load of
// batches batches; cleanup unsubscribes.
func newLoadRun(nc *nats.Conn, s subjects, batches int) (*loadRun, func(), error) {
	l := &loadRun{nc: nc, subjects: s, published: map[string]time.Time{}, latency: map[string]time.Duration{},
		allDone: make(chan struct{}), expect: batches, progress: time.Now(), outstanding: make(chan struct{}, maxOutstanding), stall: stallTimeout}
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
	l.progress = time.Now()
	<-l.outstanding // its publish put a token in
	l.failed += s.Failed
	if s.Error != "" {
		l.failed += max(s.Count, 1)
	}
	if len(l.latency) == l.expect {
		close(l.allDone)
	}
}

// publish sends b, first waiting while maxOutstanding batches await
// their summaries. It gives up when ctx ends or the load stalls (see
// stallTimeout).
func (l *loadRun) publish(ctx context.Context, b wire.Batch) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if err := l.await(ctx, func() bool {
		select {
		case l.outstanding <- struct{}{}:
			return true
		default:
			return false
		}
	}); err != nil {
		return err
	}
	l.mu.Lock()
	l.published[b.ID] = time.Now()
	l.progress = time.Now()
	l.mu.Unlock()
	if err := l.nc.Publish(l.subjects.in, data); err != nil {
		l.mu.Lock()
		delete(l.published, b.ID) // no summary will come for it
		l.mu.Unlock()
		<-l.outstanding
		return err
	}
	return nil
}

// wait blocks until every batch has its summary, and then until the
// results subscription has handed over what it holds (its handler runs
// apart from the summaries', so it may be behind). It gives up when ctx
// ends or the load stalls (see stallTimeout).
func (l *loadRun) wait(ctx context.Context) error {
	err := l.await(ctx, func() bool {
		select {
		case <-l.allDone:
			return true
		default:
			return false
		}
	})
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if msgs, _, err := l.resultsSub.Pending(); err != nil || msgs == 0 {
			break
		}
	}
	return nil
}

// await polls ready (at once, then every millisecond) until it reports
// true, ctx ends, or the load stalls: no publish, summary or result for
// l.stall.
func (l *loadRun) await(ctx context.Context, ready func() bool) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	results, resultSeen := l.results.Load(), time.Now()
	for !ready() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if n := l.results.Load(); n != results {
			results, resultSeen = n, time.Now()
		}
		l.mu.Lock()
		idle, stall := min(time.Since(l.progress), time.Since(resultSeen)), l.stall
		l.mu.Unlock()
		if idle > stall {
			return fmt.Errorf("no batch published or summarized and no result for %s: %d of %d batches done", stall, l.done(), l.expect)
		}
	}
	return nil
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
