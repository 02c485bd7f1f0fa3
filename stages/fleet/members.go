package fleet

import (
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
		if _, err := f.js.Publish(f.ctx, subject, []byte(f.cfg.Replica), jetstream.WithMsgTTL(heartbeatLife)); err == nil {
			if n, ok := f.countReplicas(); ok {
				f.replicas.Store(int64(max(n, 1)))
			}
		}
		select {
		case <-tick.C:
		case <-f.ctx.Done():
			return
		}
	}
}

// countReplicas counts the replica keys (at most maxCounted): ok when
// the listing ran to its end.
func (f *Fleet) countReplicas() (int, bool) {
	lister, err := f.kv.ListKeysFiltered(f.ctx, "replica.>")
	if err != nil {
		return 0, false
	}
	defer func() { _ = lister.Stop() }()
	n := 0
	for range lister.Keys() {
		if n++; n >= maxCounted {
			return n, true
		}
	}
	return n, f.ctx.Err() == nil
}
