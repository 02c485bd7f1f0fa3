package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/fetchstream/fetchstream/wire"
)

// Result is one URL's result with its place in the whole list: Position
// is the index of its URL in the list given to Publish or Gather (Index,
// from wire.Result, is its index in its own batch).
type Result struct {
	wire.Result
	Position int
	// Raw is the result's JSON as the service published it.
	Raw []byte
	// Trace is the W3C trace context the result's message carried (its
	// traceparent header: the span of the service's fetch of this URL,
	// in the trace of the context Publish was given), the zero
	// SpanContext when it carried none. A consumer's span joins that
	// trace with trace.ContextWithRemoteSpanContext(ctx, r.Trace).
	Trace trace.SpanContext
}

// Stream follows the batches of one Publish: it yields their results in
// the whole list's order as they come, then holds their summaries.
//
// Contract: Results may be ranged over once. It yields each URL's result
// exactly once, in position order (0, 1, 2, ...), as soon as it and every
// result before it have come. For a batch the service rejected it yields
// one (Result{}, *BatchError) in that batch's place and goes on with the
// next batch (a refusal of the inbox, read on the batches subject, too).
// Any other error ends the iteration: the context's error,
// ErrWaitTimeout, a *NoServiceError (ErrNoService: nothing subscribed to
// the input subject, or see WithNoServiceCheck), ErrLeftStream (a batch
// left the JetStream stream but its end never came), ErrSlowConsumer,
// ErrIncomplete, or nats.ErrConnectionClosed. When the loop ends (all
// done, break, or error) the subscription is gone. Memory: the client
// holds the results that come ahead of their turn (the later batches of a
// split list that the service finished first), up to the whole list, and
// at most WithBuffer messages not yet read from NATS. How: every batch
// asks for a streamed reply to the Stream's own inbox (wire.HeaderReplyTo,
// wire.HeaderReplyStream), in core and JetStream mode alike, so a Stream
// reads only its own batches' results and summaries, of any size, and
// none of other clients'. A batch redelivered after a replica died
// streams again; its repeated results are ignored.
type Stream struct {
	c     *Client
	parts []part
	byID  map[string]int
	msgs  chan *nats.Msg
	inbox string             // every batch's Fetch-Reply-To
	sub   *nats.Subscription // on inbox
	start time.Time

	// On the batches subject until the first reply (WithBatchesSubject):
	// a refusal of inbox goes there alone. batchSub is under mu.
	others   chan *nats.Msg
	batchSub *nats.Subscription

	used      atomic.Bool
	closeOnce sync.Once

	mu        sync.Mutex
	summaries []*wire.Summary // by part
}

// follow subscribes to an inbox of its own, where the service streams
// each batch's reply (wire.HeaderReplyTo with wire.HeaderReplyStream): the
// batch's results in order, then its summary, in the order the service
// published them. It waits until the server has the subscription.
func (c *Client) follow(ctx context.Context, parts []part) (*Stream, error) {
	s := &Stream{c: c, parts: parts, byID: make(map[string]int, len(parts)),
		msgs: make(chan *nats.Msg, c.buffer), summaries: make([]*wire.Summary, len(parts)), inbox: c.nc.NewInbox()}
	for i, p := range parts {
		s.byID[p.batch.ID] = i
	}
	sub, err := c.nc.ChanSubscribe(s.inbox, s.msgs)
	if err != nil {
		return nil, fmt.Errorf("subscribe to the reply inbox: %w", err)
	}
	s.sub = sub
	if c.batches != "" {
		s.others = make(chan *nats.Msg, refusalBuffer)
		if s.batchSub, err = c.nc.ChanSubscribe(c.batches, s.others); err != nil {
			s.Close()
			return nil, fmt.Errorf("subscribe to the batches subject %s: %w", c.batches, err)
		}
		time.AfterFunc(RefusalWindow, s.stopRefusals)
	}
	flushCtx, cancel := withDefaultTimeout(ctx, publishTimeout)
	defer cancel()
	if err := c.nc.FlushWithContext(flushCtx); err != nil {
		s.Close()
		return nil, fmt.Errorf("subscribe: flush: %w", err)
	}
	return s, nil
}

// RefusalWindow bounds how long a wait reads the batches subject for a
// refusal of its inbox (see WithBatchesSubject).
const RefusalWindow = 10 * time.Second

// refusalBuffer is how many messages of the batches subject a wait holds
// while it looks for a refusal of its inbox; the others' summaries past
// it are dropped for it, harmlessly.
const refusalBuffer = 256

// stopRefusals stops reading the batches subject: a reply came, so the
// inbox was not refused, or the stream is closed.
func (s *Stream) stopRefusals() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.batchSub != nil {
		_ = s.batchSub.Unsubscribe()
		s.batchSub = nil
	}
}

// refusal returns m as a summary message of the reply inbox when it is a
// summary, on the batches subject, of one of s's batches refusing s's
// inbox as a reply subject; else nil.
func (s *Stream) refusal(m *nats.Msg) *nats.Msg {
	id, ok := peekBatchID(m.Data)
	if _, mine := s.byID[id]; !ok || !mine || !bytes.Contains(m.Data, []byte(s.inbox)) {
		return nil
	}
	var sum wire.Summary
	if json.Unmarshal(m.Data, &sum) != nil || sum.Error == "" || !strings.Contains(sum.Message, s.inbox) {
		return nil
	}
	return &nats.Msg{Subject: m.Subject, Data: m.Data, Header: nats.Header{wire.HeaderReplyPart: {wire.ReplyPartSummary}}}
}

// Batches returns the batches as published, in order.
func (s *Stream) Batches() []wire.Batch {
	out := make([]wire.Batch, len(s.parts))
	for i, p := range s.parts {
		out[i] = p.batch
	}
	return out
}

// Len is the number of URLs in the whole list.
func (s *Stream) Len() int {
	last := s.parts[len(s.parts)-1]
	return last.first + len(last.batch.URLs)
}

// Summaries returns the summaries received, in batch order; it is
// complete once Results has yielded everything.
func (s *Stream) Summaries() []wire.Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []wire.Summary
	for _, sum := range s.summaries {
		if sum != nil {
			out = append(out, *sum)
		}
	}
	return out
}

// Close unsubscribes; it is safe to call more than once and after the
// Results loop has ended (which closes the stream itself).
func (s *Stream) Close() {
	s.closeOnce.Do(func() {
		if s.sub != nil {
			_ = s.sub.Unsubscribe()
		}
		s.stopRefusals()
	})
}

// Results yields the results in the whole list's order; see Stream for
// the contract. ctx bounds the wait, as does WithWaitTimeout from the
// publish on.
func (s *Stream) Results(ctx context.Context) iter.Seq2[Result, error] {
	return func(yield func(Result, error) bool) {
		defer s.Close()
		if !s.used.CompareAndSwap(false, true) {
			yield(Result{}, ErrUsed)
			return
		}
		w := newWaiter(ctx, s)
		defer w.stop()
		o := newOrder(s)
		for {
			r, err, done := o.next()
			switch {
			case done:
				return
			case err != nil || r != nil:
				var out Result
				if r != nil {
					out = *r
				}
				if !yield(out, err) || (err != nil && !isBatchError(err)) {
					return
				}
				continue
			}
			m, err := w.next()
			if err != nil {
				yield(Result{}, err)
				return
			}
			if o.take(m.Data, m.Header, m.Header.Get(wire.HeaderReplyPart) != wire.ReplyPartSummary) {
				w.sawOwn(m.Subject == s.inbox)
			}
		}
	}
}

// peekBatchID reads the batch_id of a result or summary without decoding
// the rest (a body can be large, and most messages may be other clients').
func peekBatchID(data []byte) (string, bool) {
	var head struct {
		BatchID string `json:"batch_id"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return "", false
		}
		if key == "batch_id" {
			if dec.Decode(&head.BatchID) != nil {
				return "", false
			}
			return head.BatchID, true
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return "", false
		}
	}
	return "", false
}
