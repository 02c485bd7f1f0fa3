package chaostest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/wire"
)

// Stored is what a results stream holds, per batch, in stream order.
type Stored struct {
	batches  map[string]*storedBatch
	Messages int // messages read
	Skipped  int // messages on neither subject, or not decodable
}

type storedBatch struct {
	results    []int // the index of every stored result, in stream order
	seen       map[int]bool
	firstSeqs  []uint64 // stream sequences of the first copy of each index, ascending
	summaries  []uint64 // stream sequences of its summaries
	summaryErr string
}

// firstsAfter counts the results first stored after sequence seq.
func (b *storedBatch) firstsAfter(seq uint64) int {
	n := 0
	for _, s := range b.firstSeqs {
		if s > seq {
			n++
		}
	}
	return n
}

// NewStored is an empty Stored, for Add.
func NewStored() *Stored { return &Stored{batches: map[string]*storedBatch{}} }

// Add records one stored message: a result when subject is resultsSubject,
// a summary when it is summariesSubject. seq is its stream sequence;
// messages must be added in stream order.
func (s *Stored) Add(subject string, data []byte, seq uint64, resultsSubject, summariesSubject string) {
	s.Messages++
	var m struct {
		BatchID string         `json:"batch_id"`
		Index   *int           `json:"index"`
		Error   wire.ErrorKind `json:"error"`
	}
	if json.Unmarshal(data, &m) != nil || m.BatchID == "" {
		s.Skipped++
		return
	}
	b := s.batches[m.BatchID]
	if b == nil {
		b = &storedBatch{seen: map[int]bool{}}
		s.batches[m.BatchID] = b
	}
	switch {
	case subject == resultsSubject && m.Index != nil:
		b.results = append(b.results, *m.Index)
		if !b.seen[*m.Index] {
			b.seen[*m.Index] = true
			b.firstSeqs = append(b.firstSeqs, seq)
		}
	case subject == summariesSubject:
		if len(b.summaries) == 0 {
			b.summaryErr = string(m.Error)
		}
		b.summaries = append(b.summaries, seq)
	default:
		s.Skipped++
	}
}

// ReadStream reads every message stream holds, from its first to the
// last it held when ReadStream began, through an ordered consumer, and
// records the results on resultsSubject and the summaries on
// summariesSubject (the wire's defaults when ""). ctx bounds it; a
// stream read while it electing a leader is retried until ctx ends.
func ReadStream(ctx context.Context, js jetstream.JetStream, stream, resultsSubject, summariesSubject string) (*Stored, error) {
	resultsSubject = cmpOr(resultsSubject, wire.DefaultResultsSubject)
	summariesSubject = cmpOr(summariesSubject, wire.DefaultBatchesSubject)
	var info *jetstream.StreamInfo
	var str jetstream.Stream
	for {
		var err error
		if str, err = js.Stream(ctx, stream); err == nil {
			if info, err = str.Info(ctx); err == nil {
				break
			}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("stream %s: %w", stream, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	stored := NewStored()
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return stored, nil
	}
	cons, err := str.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("read stream %s: %w", stream, err)
		}
		for m := range batch.Messages() {
			meta, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			stored.Add(m.Subject(), m.Data(), meta.Sequence.Stream, resultsSubject, summariesSubject)
			if meta.Sequence.Stream >= last {
				return stored, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("read stream %s: %w", stream, err)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("read stream %s: stopped before sequence %d: %w", stream, last, ctx.Err())
		}
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
