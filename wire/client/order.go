package client

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/tracectx"
)

// order puts a Stream's results into the whole list's order. Results of
// the batch at the cursor go out as soon as they are next; those of later
// batches wait in their slots. Late or repeated messages (a redelivered
// batch publishes its results again) are ignored. Used by one goroutine.
type order struct {
	s     *Stream
	slots [][]*Result // by part, then index; nil until a result comes
	k, i  int         // cursor: part k, index i
}

func newOrder(s *Stream) *order {
	return &order{s: s, slots: make([][]*Result, len(s.parts))}
}

// next returns the next result in order, or a BatchError for a rejected
// batch, or another error that ends the stream, or done when every batch
// has ended; all zero when it must wait for a message.
func (o *order) next() (r *Result, err error, done bool) {
	for o.k < len(o.s.parts) {
		p := o.s.parts[o.k]
		count := len(p.batch.URLs)
		if o.i < count && o.slots[o.k] != nil && o.slots[o.k][o.i] != nil {
			r, o.slots[o.k][o.i] = o.slots[o.k][o.i], nil
			o.i++
			return r, nil, false
		}
		sum := o.s.summary(o.k)
		switch {
		case sum == nil:
			return nil, nil, false // wait
		case o.i < count && sum.Error != "":
			err = &BatchError{ID: p.batch.ID, Kind: sum.Error, Message: sum.Message,
				First: p.first + o.i, Count: count - o.i, Summary: *sum}
		case o.i < count:
			err = o.s.missing(p.batch.ID, o.i, count)
		}
		o.slots[o.k] = nil
		o.k, o.i = o.k+1, 0
		if err != nil {
			return nil, err, false
		}
	}
	return nil, nil, true
}

// take files a message from the results (isResult) or the summaries
// subject and reports whether it belongs to this stream.
func (o *order) take(data []byte, h nats.Header, isResult bool) bool {
	id, ok := peekBatchID(data)
	if !ok {
		return false
	}
	k, mine := o.s.byID[id]
	if !mine {
		return false
	}
	if k < o.k || o.s.summary(k) != nil {
		return true // that batch has ended: a late or repeated message
	}
	if !isResult {
		var sum wire.Summary
		if json.Unmarshal(data, &sum) == nil {
			o.s.setSummary(k, &sum)
		}
		return true
	}
	var r Result
	if json.Unmarshal(data, &r.Result) != nil {
		return true
	}
	count := len(o.s.parts[k].batch.URLs)
	if r.Index < 0 || r.Index >= count || (k == o.k && r.Index < o.i) {
		return true
	}
	if o.slots[k] == nil {
		o.slots[k] = make([]*Result, count)
	}
	if o.slots[k][r.Index] == nil {
		r.Position, r.Raw, r.Trace = o.s.parts[k].first+r.Index, data, tracectx.Extract(h)
		o.slots[k][r.Index] = &r
	}
	return true
}

func (s *Stream) summary(k int) *wire.Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.summaries[k]
}

func (s *Stream) setSummary(k int, sum *wire.Summary) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.summaries[k] = sum
}

// missing explains a summary that came before all its batch's results.
func (s *Stream) missing(id string, got, count int) error {
	if err := s.dropped(); err != nil {
		return err
	}
	return fmt.Errorf("%w: batch %s ended after %d of its %d results", ErrIncomplete, id, got, count)
}

// dropped returns ErrSlowConsumer, wrapped with the counts, if NATS has
// dropped messages of either subscription.
func (s *Stream) dropped() error {
	if n, err := s.sub.Dropped(); err == nil && n > 0 {
		return fmt.Errorf("%w: %d messages of the reply inbox dropped (buffer of %d; read faster or raise WithBuffer)",
			ErrSlowConsumer, n, cap(s.msgs))
	}
	return nil
}

func isBatchError(err error) bool {
	var be *BatchError
	return errors.As(err, &be)
}
