package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// holdingOutbox is an outbox already in an outage, so that errors are
// kept for a resend without starting its recovery (which needs a stream).
func holdingOutbox(t *testing.T) *outbox {
	t.Helper()
	o := newOutbox(context.Background(), time.Minute, 10*time.Second, slog.New(slog.DiscardHandler))
	o.state = holding
	return o
}

func msgOf(batch string, i int) *nats.Msg {
	return &nats.Msg{Subject: "res", Data: []byte(fmt.Sprintf("%s/%d", batch, i)),
		Header: nats.Header{nats.MsgIdHdr: []string{fmt.Sprintf("%s/%d", batch, i)}}}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Unacknowledged publishes are sent again in publish order, each batch's
// in its own order, as fresh copies; an ack or error of a copy replaced
// since counts for nothing, and one of the fresh copy settles the entry.
func TestOutboxResendsInOrderAndIgnoresOldCopies(t *testing.T) {
	o := holdingOutbox(t)
	a, b := newBatchAcks(), newBatchAcks()
	var sent []*nats.Msg
	o.mu.Lock()
	for i := range 3 {
		for _, x := range []struct {
			acks *batchAcks
			id   string
		}{{a, "a"}, {b, "b"}} {
			m := msgOf(x.id, i)
			o.expectLocked(m, x.acks, false)
			sent = append(sent, m)
		}
	}
	o.mu.Unlock()
	o.seal(a)
	o.seal(b)

	o.resolve(sent[0], nil)                           // a/0 stored
	o.resolve(sent[3], jetstream.ErrNoStreamResponse) // b/1: kept for the resend
	o.resolve(sent[4], nats.ErrTimeout)               // a/2: kept too
	o.mu.Lock()
	copies := o.resendLocked()
	o.mu.Unlock()
	var got []string
	for _, c := range copies {
		got = append(got, string(c.Data))
	}
	if want := "[b/0 a/1 b/1 a/2 b/2]"; fmt.Sprint(got) != want {
		t.Fatalf("resent %v, want %s", got, want)
	}
	for i, c := range copies {
		if c == sent[i+1] || c.Header.Get(nats.MsgIdHdr) != sent[i+1].Header.Get(nats.MsgIdHdr) {
			t.Fatalf("copy %d is the old message or has another Nats-Msg-Id", i)
		}
	}
	// Late answers to the old copies: an error must not fail the new one.
	o.resolve(sent[1], errors.New("nats: API error: code=400 err_code=10054 description=message size exceeds maximum allowed"))
	o.resolve(sent[2], nil)
	if closed(a.done) || closed(b.done) {
		t.Fatal("a batch is done on answers to copies no longer awaited")
	}
	for _, c := range copies {
		o.resolve(c, nil)
	}
	if !closed(a.done) || !closed(b.done) {
		t.Fatal("a batch is not done once every fresh copy is acked")
	}
	if r := o.outcome(a); r.failed != 0 {
		t.Errorf("batch a: %d failed, want none: %v", r.failed, r.firstErr)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.head != nil || len(o.byMsg) != 0 {
		t.Errorf("the outbox still holds %d messages", len(o.byMsg))
	}
}

// Errors that a retry would meet again fail their publish at once, the
// summary's recorded as such; an outage past the bound fails what is
// left as unavailable.
func TestOutboxCountsFailures(t *testing.T) {
	o := holdingOutbox(t)
	b := newBatchAcks()
	tooLarge := &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamMessageExceedsMaximum, Description: "message size exceeds maximum allowed"}
	r0, r1, sum := msgOf("a", 0), msgOf("a", 1), msgOf("a", 2)
	o.mu.Lock()
	o.expectLocked(r0, b, false)
	o.expectLocked(r1, b, false)
	o.expectLocked(sum, b, true)
	o.mu.Unlock()
	o.seal(b)
	o.resolve(r0, tooLarge)
	o.resolve(sum, jetstream.ErrNoStreamResponse) // kept
	o.mu.Lock()
	o.failAllLocked(fmt.Errorf("%w: gone", errOutputUnavailable), true)
	o.mu.Unlock()
	if !closed(b.done) {
		t.Fatal("the batch is not done")
	}
	r := o.outcome(b)
	if r.failed != 3 || r.unavailable != 2 || !errors.Is(r.firstErr, tooLarge) || !errors.Is(r.summaryErr, errOutputUnavailable) {
		t.Errorf("outcome %+v: want 3 failed, 2 of them unavailable, the first too large, the summary unavailable", r)
	}
}

// A publish that nats.go refused before sending is forgotten, unless a
// resend has sent a copy of it since.
func TestOutboxForgetsOnlyWhatWasNotResent(t *testing.T) {
	o := holdingOutbox(t)
	b := newBatchAcks()
	m0, m1 := msgOf("a", 0), msgOf("a", 1)
	o.mu.Lock()
	e0 := o.expectLocked(m0, b, false)
	e1 := o.expectLocked(m1, b, false)
	if !o.forgetLocked(e0, m0) {
		t.Error("a publish not resent was not forgotten")
	}
	o.resendLocked()
	if o.forgetLocked(e1, m1) {
		t.Error("a publish resent since was forgotten")
	}
	o.mu.Unlock()
	if b.pending != 1 {
		t.Errorf("%d pending, want the resent one", b.pending)
	}
}

func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{jetstream.ErrNoStreamResponse, true},
		{nats.ErrNoResponders, true},
		{jetstream.ErrAsyncPublishTimeout, true},
		{context.DeadlineExceeded, true},
		{nats.ErrDisconnected, true},
		{fmt.Errorf("wrapped: %w", nats.ErrTimeout), true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{&jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamMessageExceedsMaximum}, false},
		{&jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "maximum bytes exceeded"}, false},
		{&jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence}, false},
		{nats.ErrConnectionClosed, false},
		{context.Canceled, false},
	} {
		if got := unavailable(tc.err); got != tc.want {
			t.Errorf("unavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestHandBackDelayAndDuplicateWindow(t *testing.T) {
	for _, tc := range []struct {
		ackWait    time.Duration
		deliveries uint64
		want       time.Duration
	}{
		{30 * time.Second, 0, 30 * time.Second},
		{30 * time.Second, 1, 30 * time.Second},
		{30 * time.Second, 2, time.Minute},
		{30 * time.Second, 4, 4 * time.Minute},
		{30 * time.Second, 5, MaxHandBackDelay},
		{30 * time.Second, 1 << 40, MaxHandBackDelay},
		{10 * time.Minute, 3, 10 * time.Minute},
	} {
		if got := HandBackDelay(tc.ackWait, tc.deliveries); got != tc.want {
			t.Errorf("HandBackDelay(%s, %d) = %s, want %s", tc.ackWait, tc.deliveries, got, tc.want)
		}
	}
	for _, tc := range []struct {
		ackWait    time.Duration
		maxDeliver int
		retryFor   time.Duration
		maxAge     time.Duration
		want       time.Duration
	}{
		// 4 × (30s + 2m) + 30s + 1m + 2m + 4m
		{30 * time.Second, 5, 2 * time.Minute, 24 * time.Hour, 17*time.Minute + 30*time.Second},
		{time.Second, 2, time.Second, time.Hour, MinDuplicateWindow},
		{30 * time.Second, 5, 2 * time.Minute, 10 * time.Minute, 10 * time.Minute},
		{30 * time.Second, -1, 2 * time.Minute, time.Hour, time.Hour},
		{time.Minute, 1 << 30, time.Minute, 24 * time.Hour, 24 * time.Hour},
	} {
		if got := DuplicateWindow(tc.ackWait, tc.maxDeliver, tc.retryFor, tc.maxAge); got != tc.want {
			t.Errorf("DuplicateWindow(%s, %d, %s, %s) = %s, want %s", tc.ackWait, tc.maxDeliver, tc.retryFor, tc.maxAge, got, tc.want)
		}
	}
}
