package fleet

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// This file counts the fleet's replicas, for the pace a replica keeps on
// its own when the bucket refuses a lease (see localLease): every
// heartbeatEvery each replica writes replica.<name> with a TTL of
// heartbeatLife and counts the replica keys in the bucket. A count is
// kept only after this replica's own heartbeat was written: while the
// bucket refuses writes (full, or gone), the last count stands, so the
// replicas that fall back keep to the fleet's rate together.
// Cost: a write and a listing of the replica keys per heartbeatEvery.

const (
	heartbeatEvery = 3 * time.Second
	heartbeatLife  = 10 * time.Second
	// maxCounted bounds the count: keys a spoiler wrote past it are not
	// read (a pace divided by more would crawl no slower in practice).
	maxCounted = 1000
)

// heartbeat writes this replica's heartbeat and counts the replicas,
// until the fleet's context ends.
func (f *Fleet) heartbeat() {
	subject := f.prefix + kvKey("replica", f.cfg.Replica)
	tick := time.NewTicker(heartbeatEvery)
	defer tick.Stop()
	for {
		f.beat(subject)
		select {
		case <-tick.C:
		case <-f.ctx.Done():
			return
		}
	}
}

// beat writes the heartbeat at subject and, when it was written, counts
// the replicas, all within heartbeatEvery: a server that stops answering
// holds the heartbeat no longer.
func (f *Fleet) beat(subject string) {
	ctx, cancel := context.WithTimeout(f.ctx, heartbeatEvery)
	defer cancel()
	if _, err := f.js.Publish(ctx, subject, []byte(f.cfg.Replica), jetstream.WithMsgTTL(heartbeatLife)); err != nil {
		return
	}
	if n, ok := f.countReplicas(ctx); ok {
		f.replicas.Store(int64(max(n, 1)))
	}
}

// countReplicas counts the replica keys (at most maxCounted): ok when
// the listing ran to its end before ctx ended.
func (f *Fleet) countReplicas(ctx context.Context) (int, bool) {
	lister, err := f.kv.ListKeysFiltered(ctx, "replica.>")
	if err != nil {
		return 0, false
	}
	defer func() { _ = lister.Stop() }()
	n := 0
	keys := lister.Keys()
	// The lister's goroutine may be blocked sending keys not read (past
	// maxCounted): read them away until it closes keys, which it does
	// once ctx ends.
	defer func() {
		go func() {
			for range keys {
			}
		}()
	}()
	for {
		select {
		case _, more := <-keys:
			if !more {
				return n, ctx.Err() == nil
			}
			if n++; n >= maxCounted {
				return n, true
			}
		case <-ctx.Done():
			return 0, false
		}
	}
}
