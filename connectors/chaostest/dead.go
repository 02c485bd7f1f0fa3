package chaostest

import (
	"encoding/json"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/wire"
)

// DeadLetters gathers the dead letters seen on the dead-letter subject,
// each once (by its Nats-Msg-Id, which names the batch's stream and
// sequence), from as many subscriptions as feed it: subscribe on a
// connection to each node of a cluster and a node that goes down misses
// nothing the others see. Safe for concurrent use.
type DeadLetters struct {
	mu     sync.Mutex
	seen   map[string]bool
	bySeq  map[string]string // "stream/seq" → kind
	byID   map[string]string // batch id → kind
	counts map[string]int    // "stream/seq" or id → letters
}

// NewDeadLetters is an empty collection.
func NewDeadLetters() *DeadLetters {
	return &DeadLetters{seen: map[string]bool{}, bySeq: map[string]string{}, byID: map[string]string{}, counts: map[string]int{}}
}

// Subscribe feeds the collection from subject on nc (core NATS). The
// caller unsubscribes or closes nc.
func (d *DeadLetters) Subscribe(nc *nats.Conn, subject string) (*nats.Subscription, error) {
	sub, err := nc.Subscribe(subject, d.Add)
	if err != nil {
		return nil, err
	}
	_ = sub.SetPendingLimits(-1, -1)
	return sub, nc.Flush()
}

// Add records one dead letter; a second copy (same Nats-Msg-Id) is
// ignored. It locates the batch by the Fetch-Dead-Stream and
// Fetch-Dead-Stream-Seq headers and by its id: the "id" of a JSON object
// batch or the Fetch-Batch-Id header.
func (d *DeadLetters) Add(m *nats.Msg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := m.Header.Get(nats.MsgIdHdr)
	if key == "" {
		key = string(m.Data) + "\x00" + m.Header.Get(wire.HeaderDeadSeq)
	}
	if d.seen[key] {
		return
	}
	d.seen[key] = true
	kind := m.Header.Get(wire.HeaderDeadKind)
	if seq := m.Header.Get(wire.HeaderDeadSeq); seq != "" {
		k := m.Header.Get(wire.HeaderDeadStream) + "/" + seq
		d.bySeq[k] = kind
		d.counts[k]++
	}
	var batch struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(m.Data, &batch)
	if id := cmpOr(batch.ID, m.Header.Get(wire.HeaderBatchID)); id != "" {
		d.byID[id] = kind
		d.counts["id:"+id]++
	}
}

// Len is the number of distinct dead letters seen.
func (d *DeadLetters) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}

// of is how many dead letters name b, and the kind of one of them.
func (d *DeadLetters) of(b Batch) (int, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := b.Stream + "/" + strconv.FormatUint(b.Seq, 10)
	if kind, ok := d.bySeq[k]; ok && b.Stream != "" {
		return d.counts[k], kind
	}
	if kind, ok := d.byID[b.ID]; ok {
		return d.counts["id:"+b.ID], kind
	}
	return 0, ""
}
