package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/wire"
)

// loadRun publishes batches to a running service and waits for all their
// summaries, counting results on the way.
type loadRun struct {
	nc       *nats.Conn
	subjects subjectFlags

	mu        sync.Mutex
	published map[string]time.Time
	latency   map[string]time.Duration
	failed    int
	results   atomic.Int64
	allDone   chan struct{}
	expect    int

	resultsSub *nats.Subscription
}

// lost explains results that did not arrive: dropped by this client
// (its pending limit), or by the server (a reconnect).
func (l *loadRun) lost() string {
	dropped, _ := l.resultsSub.Dropped()
	return fmt.Sprintf("dropped by the client: %d, reconnects: %d", dropped, l.nc.Stats().Reconnects)
}

func newLoadRun(nc *nats.Conn, subjects subjectFlags, batches int) (*loadRun, func(), error) {
	l := &loadRun{nc: nc, subjects: subjects, published: map[string]time.Time{}, latency: map[string]time.Duration{},
		allDone: make(chan struct{}), expect: batches}
	results, err := nc.Subscribe(subjects.out, func(*nats.Msg) { l.results.Add(1) })
	if err != nil {
		return nil, nil, err
	}
	summaries, err := nc.Subscribe(subjects.batches, l.onSummary)
	if err != nil {
		return nil, nil, err
	}
	for _, sub := range []*nats.Subscription{results, summaries} {
		_ = sub.SetPendingLimits(-1, -1)
	}
	l.resultsSub = results
	cleanup := func() { _ = results.Unsubscribe(); _ = summaries.Unsubscribe() }
	return l, cleanup, nc.Flush()
}

func (l *loadRun) onSummary(m *nats.Msg) {
	var s wire.Summary
	if json.Unmarshal(m.Data, &s) != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	start, ok := l.published[s.BatchID]
	if !ok {
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
		l.mu.Lock()
		defer l.mu.Unlock()
		return fmt.Errorf("only %d of %d batches done after %s", len(l.latency), l.expect, timeout)
	}
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
		return fmt.Errorf("%d results for %d URLs (%s)", got, n, l.lost())
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

// bareClient is the baseline: workers goroutines doing GETs with a plain
// net/http client, reading each body, over one keep-alive pool. Its
// connection buffers are the sizes the service's transport uses (see
// httpfetch.New), so that memory compares like for like.
type bareClient struct {
	client  *http.Client
	workers int
}

func newBareClient(workers int) *bareClient {
	return &bareClient{workers: workers, client: &http.Client{Transport: &http.Transport{
		MaxIdleConns: workers, MaxIdleConnsPerHost: workers, WriteBufferSize: 1 << 10, ReadBufferSize: 2 << 10}}}
}

func (b *bareClient) close() { b.client.CloseIdleConnections() }

// run makes n GETs of url and returns how long they took.
func (b *bareClient) run(ctx context.Context, url string, n int) (time.Duration, error) {
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range b.workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				resp, err := b.client.Get(url)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
