package fleet

import (
	"context"
	"sync"
	"time"

	"github.com/fetchstream/fetchstream/stages/engine"
)

// This file bounds the leases in flight: Lease queues an ask per key and
// leaseWorkers goroutines take them in the order asked, so a publisher
// whose batch rules tens of thousands of hosts makes at most
// leaseWorkers bus round trips at once, not one per host.

// leaseWorkers is how many leases are made at once.
const leaseWorkers = 32

// leaseAsk is what a lease asks for: n slots of a pace of perSecond with
// a bucket of burst.
type leaseAsk struct {
	perSecond float64
	burst, n  int
}

// leaseQueue holds the asks not taken yet, one per key (a later ask for
// a key replaces the one waiting), in the order their keys were first
// asked. Safe for concurrent use.
type leaseQueue struct {
	mu    sync.Mutex
	asks  map[string]leaseAsk
	order []string // the keys asked, from head on
	head  int
	wake  chan struct{} // a token while asks wait
}

func newLeaseQueue() *leaseQueue {
	return &leaseQueue{asks: map[string]leaseAsk{}, wake: make(chan struct{}, 1)}
}

// put queues ask for key, never blocking.
func (q *leaseQueue) put(key string, ask leaseAsk) {
	q.mu.Lock()
	if _, waiting := q.asks[key]; !waiting {
		q.order = append(q.order, key)
	}
	q.asks[key] = ask
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns the oldest ask, waiting for one until ctx ends (ok false).
func (q *leaseQueue) take(ctx context.Context) (string, leaseAsk, bool) {
	for {
		q.mu.Lock()
		if q.head < len(q.order) {
			key := q.order[q.head]
			q.order[q.head] = ""
			q.head++
			if q.head == len(q.order) { // empty: start over, keeping the array
				q.order, q.head = q.order[:0], 0
			} else if q.head > len(q.order)/2 { // mostly taken: move the rest down
				q.order = q.order[:copy(q.order, q.order[q.head:])]
				q.head = 0
			}
			ask := q.asks[key]
			delete(q.asks, key)
			more := q.head < len(q.order)
			q.mu.Unlock()
			if more { // pass the token on to another worker
				select {
				case q.wake <- struct{}{}:
				default:
				}
			}
			return key, ask, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return "", leaseAsk{}, false
		}
	}
}

// Lease implements engine.Fleet: the ask is queued, and the answer comes
// on Events.
func (f *Fleet) Lease(key string, perSecond float64, burst, n int) {
	f.leases.put(key, leaseAsk{perSecond: perSecond, burst: burst, n: n})
}

// makeLeases is a lease worker: it makes the leases asked, until the
// fleet's context ends.
func (f *Fleet) makeLeases() {
	for {
		key, ask, ok := f.leases.take(f.ctx)
		if !ok {
			return
		}
		if slots := f.lease(f.ctx, key, ask.perSecond, ask.burst, ask.n); len(slots) > 0 {
			f.send(engine.FleetEvent{Key: key, Slots: slots})
		}
	}
}

// localPaces is each key's next slot when the bucket cannot give a lease
// (see localLease): swept of keys long past at most once a sweepEvery.
type localPaces struct {
	mu    sync.Mutex
	next  map[string]time.Time
	swept time.Time
}

const sweepEvery = time.Second

// spend spends n slots of key's local pace (see gcra).
func (p *localPaces) spend(key string, now time.Time, interval time.Duration, burst, n int) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next == nil {
		p.next = map[string]time.Time{}
	}
	got, after := gcra(p.next[key], now, interval, burst, n)
	p.next[key] = after
	if now.Sub(p.swept) >= sweepEvery { // forget what is long past: a bounded map
		p.swept = now
		for k, t := range p.next {
			if now.Sub(t) > paceKeyLife {
				delete(p.next, k)
			}
		}
	}
	return got
}
