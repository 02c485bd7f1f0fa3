package connectors

import (
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pubAcks matches the acks of asynchronous JetStream publishes to the
// batch they belong to, so a batch is settled only once the stream has
// stored all of it. It keeps counts, not futures, so what it holds per
// batch is small whatever the batch's size. Safe for concurrent use.
type pubAcks struct {
	mu    sync.Mutex
	byMsg map[*nats.Msg]*batchAcks
}

// batchAcks counts one batch's publishes awaiting an ack. done is closed
// once the batch is sealed (no more publishes) and none is pending.
type batchAcks struct {
	pending  int
	failed   int
	firstErr error
	sealed   bool
	done     chan struct{}
}

func newPubAcks() *pubAcks { return &pubAcks{byMsg: map[*nats.Msg]*batchAcks{}} }

func newBatchAcks() *batchAcks { return &batchAcks{done: make(chan struct{})} }

// expect registers msg before it is published, so that an ack arriving at
// once is not missed.
func (a *pubAcks) expect(msg *nats.Msg, b *batchAcks) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byMsg[msg] = b
	b.pending++
}

// forget undoes expect for a publish that failed before it was sent (no
// ack will come); the caller decides whether it counts as a failure.
func (a *pubAcks) forget(msg *nats.Msg) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if b, ok := a.byMsg[msg]; ok {
		delete(a.byMsg, msg)
		b.pending--
	}
}

// resolve records the outcome of msg's publish: err is nil for an ack.
func (a *pubAcks) resolve(msg *nats.Msg, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, ok := a.byMsg[msg]
	if !ok {
		return
	}
	delete(a.byMsg, msg)
	b.pending--
	if err != nil {
		b.failed++
		if b.firstErr == nil {
			b.firstErr = err
		}
	}
	if b.sealed && b.pending == 0 {
		close(b.done)
	}
}

// seal says the batch will publish no more; done closes once all are in.
func (a *pubAcks) seal(b *batchAcks) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b.sealed = true
	if b.pending == 0 {
		close(b.done)
	}
}

// outcome returns how many publishes failed and the first error, once
// done is closed.
func (a *pubAcks) outcome(b *batchAcks) (failed int, first error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return b.failed, b.firstErr
}

// options are the JetStream options that feed acks and errors to a.
func (a *pubAcks) options() []jetstream.JetStreamOpt {
	return []jetstream.JetStreamOpt{
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, msg *nats.Msg, _ *jetstream.PubAck) {
			a.resolve(msg, nil)
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, msg *nats.Msg, err error) {
			a.resolve(msg, err)
		}),
	}
}
