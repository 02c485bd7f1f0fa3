package client_test

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
)

// responder plays the service's wire contract on its own connection, for
// tests that must not depend on the service: it decodes each batch on the
// input subject (core NATS) and publishes one result per URL, in batch
// order, then the summary. A URL ending in /404 fails as http_error, one
// ending in /slow as a timeout; the rest succeed with 200.
type responder struct {
	nc *nats.Conn
	// hold, when above 1, makes the responder wait for that many batches
	// and answer them last first, as a service may finish them.
	hold int
	// reject names batches refused with the given kind, as the service
	// refuses a batch over its maximum.
	reject map[string]wire.ErrorKind
	// stall, when set, publishes only the first result of each batch.
	stall bool
	// lose drops the result of this index (when above 0) but not the summary.
	lose int
	// redeliver publishes the first result of each batch, then the whole
	// batch, as a batch redelivered after a crash is published again.
	redeliver bool

	mu       sync.Mutex
	held     []wire.Batch
	received []string          // batch ids, in arrival order
	replyTo  map[string]string // batch id → the Fetch-Reply-To it asked for
}

// startResponder subscribes r on a new connection to ns and waits until
// the server has the subscription.
func startResponder(t *testing.T, url string, r *responder) *responder {
	t.Helper()
	r.nc = natstest.Connect(t, url)
	if _, err := r.nc.Subscribe(wire.DefaultInSubject, r.serve); err != nil {
		t.Fatal(err)
	}
	if err := r.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *responder) serve(m *nats.Msg) {
	b, err := wire.DecodeBatch(m.Data, m.Header.Get(wire.HeaderBatchID))
	r.mu.Lock()
	r.received = append(r.received, b.ID)
	if err != nil {
		r.mu.Unlock()
		r.publish(wire.DefaultBatchesSubject, wire.Summary{BatchID: "generated", Error: wire.ErrInvalidBatch, Message: err.Error()})
		return
	}
	if to := m.Header.Get(wire.HeaderReplyTo); to != "" && m.Header.Get(wire.HeaderReplyStream) == "true" {
		if r.replyTo == nil {
			r.replyTo = map[string]string{}
		}
		r.replyTo[b.ID] = to
	}
	r.held = append(r.held, b)
	if len(r.held) < r.hold {
		r.mu.Unlock()
		return
	}
	batches := r.held
	r.held = nil
	r.mu.Unlock()
	slices.Reverse(batches)
	for _, b := range batches {
		if r.redeliver {
			r.publish(wire.DefaultResultsSubject, wire.Result{BatchID: b.ID, Index: 0, Count: len(b.URLs), URL: b.URLs[0].URL, Status: 200})
		}
		r.answer(b)
	}
	_ = r.nc.Flush()
}

func (r *responder) answer(b wire.Batch) {
	sum := wire.Summary{BatchID: b.ID, CorrelationID: b.CorrelationID, Count: len(b.URLs)}
	if kind := r.reject[b.ID]; kind != "" {
		sum.Error, sum.Message = kind, "refused by the test responder"
		r.publish(wire.DefaultBatchesSubject, sum)
		return
	}
	for i, item := range b.URLs {
		u := item.URL
		res := wire.Result{BatchID: b.ID, CorrelationID: b.CorrelationID, Index: i, Count: len(b.URLs), URL: u, Status: 200}
		switch {
		case strings.HasSuffix(u, "/404"):
			res.Status, res.Error = 404, wire.ErrHTTP
		case strings.HasSuffix(u, "/slow"):
			res.Status, res.Error, res.Message = 0, wire.ErrTimeout, "no response within 1s"
		}
		if res.OK() {
			sum.OK++
		} else {
			sum.Failed++
		}
		if r.lose == 0 || i != r.lose {
			r.publish(wire.DefaultResultsSubject, res)
		}
		if r.stall {
			_ = r.nc.Flush()
			return
		}
	}
	r.publish(wire.DefaultBatchesSubject, sum)
}

// publish sends a result or summary on subject and, as the service
// does, to the streamed reply its batch asked for, if any.
func (r *responder) publish(subject string, v any) {
	data, _ := json.Marshal(v)
	_ = r.nc.Publish(subject, data)
	id, part := "", wire.ReplyPartResult
	switch v := v.(type) {
	case wire.Result:
		id = v.BatchID
	case wire.Summary:
		id, part = v.BatchID, wire.ReplyPartSummary
	}
	r.mu.Lock()
	to := r.replyTo[id]
	r.mu.Unlock()
	if to != "" {
		_ = r.nc.PublishMsg(&nats.Msg{Subject: to, Data: data, Header: nats.Header{wire.HeaderReplyPart: {part}}})
	}
}

// batches returns the ids of the batches received so far, in order.
func (r *responder) batches() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.received...)
}
