package connectors

import (
	"time"

	"github.com/nats-io/nats.go"
)

// pubEntry is one JetStream publish a batch waits for: the message, the
// copy of it awaiting an ack (nil while none is: it failed for want of a
// stream and waits to be sent again), and its place in publish order.
type pubEntry struct {
	msg      *nats.Msg
	inFlight *nats.Msg
	sentAt   time.Time // when inFlight was sent (registered)
	batch    *batchAcks
	summary  bool // the batch's summary
	linked   bool // still unacknowledged
	prev     *pubEntry
	next     *pubEntry
}

// batchAcks counts one batch's publishes awaiting an ack and how those
// that did not make it failed. done is closed once the batch is sealed
// (no more publishes) and none is pending. Its fields are guarded by the
// outbox's lock.
type batchAcks struct {
	pending int
	// failed counts publishes that failed for good; unavailable, those of
	// them that failed because the output stream could not be reached.
	failed, unavailable int
	firstErr            error
	summaryErr          error // why the summary was not stored; nil if it was or is not through JetStream
	sealed              bool
	done                chan struct{}
	// waitingSince is when the batch first had a publish held by an
	// outage; gaveUp, once it has waited the retry bound, the error its
	// later publishes fail with at once.
	waitingSince time.Time
	gaveUp       error
}

func newBatchAcks() *batchAcks { return &batchAcks{done: make(chan struct{})} }

// ackOutcome is how a sealed batch's JetStream publishes ended.
type ackOutcome struct {
	failed, unavailable int
	firstErr            error
	summaryErr          error
}

// The methods below keep the unacknowledged publishes of every batch in
// one list, oldest first, and match each ack or error to its entry by
// the copy it concerns, so an ack of a copy no longer awaited (one sent
// again since) counts for nothing. They are called with o.mu held.

// expectLocked registers msg before it is published, so that an ack
// arriving at once is not missed.
func (o *outbox) expectLocked(msg *nats.Msg, b *batchAcks, summary bool) *pubEntry {
	e := &pubEntry{msg: msg, inFlight: msg, sentAt: time.Now(), batch: b, summary: summary, linked: true, prev: o.tail}
	if o.tail != nil {
		o.tail.next = e
	} else {
		o.head = e
	}
	o.tail = e
	o.byMsg[msg] = e
	b.pending++
	return e
}

// unlinkLocked takes e off the list of unacknowledged entries.
func (o *outbox) unlinkLocked(e *pubEntry) {
	if e.inFlight != nil {
		delete(o.byMsg, e.inFlight)
		e.inFlight = nil
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		o.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		o.tail = e.prev
	}
	e.prev, e.next, e.linked = nil, nil, false
}

// finishLocked records e's outcome: err is nil when the stream stored it;
// unavailable says err was the stream's absence.
func (o *outbox) finishLocked(e *pubEntry, err error, unavailable bool) {
	if !e.linked {
		return
	}
	o.unlinkLocked(e)
	b := e.batch
	b.pending--
	if err != nil {
		b.failed++
		if unavailable {
			b.unavailable++
		}
		if b.firstErr == nil {
			b.firstErr = err
		}
		if e.summary {
			b.summaryErr = err
		}
	}
	if b.sealed && b.pending == 0 {
		close(b.done)
	}
}

// forgetLocked undoes expectLocked for a publish that failed before it
// was sent, unless the entry has been sent again since (then the new
// copy stands): it reports whether it forgot it.
func (o *outbox) forgetLocked(e *pubEntry, msg *nats.Msg) bool {
	if !e.linked || e.inFlight != msg {
		return false
	}
	o.unlinkLocked(e)
	e.batch.pending--
	if e.batch.sealed && e.batch.pending == 0 {
		close(e.batch.done)
	}
	return true
}

// resendLocked gives every unacknowledged entry a fresh copy of its
// message (same subject, data and headers, so the same Nats-Msg-Id) and
// returns them in publish order. Acks and errors of the copies they
// replace are ignored from now on.
func (o *outbox) resendLocked() []*nats.Msg {
	var copies []*nats.Msg
	for e := o.head; e != nil; e = e.next {
		if e.inFlight != nil {
			delete(o.byMsg, e.inFlight)
		}
		c := &nats.Msg{Subject: e.msg.Subject, Data: e.msg.Data, Header: e.msg.Header}
		e.inFlight, e.sentAt = c, time.Now()
		o.byMsg[c] = e
		copies = append(copies, c)
	}
	return copies
}

// failAllLocked fails every unacknowledged entry with err.
func (o *outbox) failAllLocked(err error, unavailable bool) int {
	n := 0
	for o.head != nil {
		o.finishLocked(o.head, err, unavailable)
		n++
	}
	return n
}

// seal says the batch will publish no more; done closes once all are in.
func (o *outbox) seal(b *batchAcks) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b.sealed = true
	if b.pending == 0 {
		close(b.done)
	}
}

// outcome returns how the batch's publishes ended, once done is closed.
func (o *outbox) outcome(b *batchAcks) ackOutcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	return ackOutcome{failed: b.failed, unavailable: b.unavailable, firstErr: b.firstErr, summaryErr: b.summaryErr}
}
