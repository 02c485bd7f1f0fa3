package chaostest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
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
// last it held when ReadStream began, and records the results on
// resultsSubject and the summaries on summariesSubject (the wire's
// defaults when ""). It reads through an ordered consumer, made again
// from the next sequence whenever a read fails (a stream or node electing
// a leader), until ctx ends.
func ReadStream(ctx context.Context, js jetstream.JetStream, stream, resultsSubject, summariesSubject string) (*Stored, error) {
	resultsSubject = cmpOr(resultsSubject, wire.DefaultResultsSubject)
	summariesSubject = cmpOr(summariesSubject, wire.DefaultBatchesSubject)
	var str jetstream.Stream
	var info *jetstream.StreamInfo
	err := retry(ctx, func() (err error) {
		if str, err = js.Stream(ctx, stream); err == nil {
			info, err = str.Info(ctx)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	stored := NewStored()
	last, next := info.State.LastSeq, info.State.FirstSeq
	if info.State.Msgs == 0 {
		return stored, nil
	}
	err = retry(ctx, func() error {
		cons, err := str.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: next})
		if err != nil {
			return err
		}
		for next <= last {
			batch, err := cons.Fetch(int(min(last-next+1, 1000)), jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				return err
			}
			for m := range batch.Messages() {
				meta, err := m.Metadata()
				if err != nil {
					return err
				}
				if meta.Sequence.Stream < next {
					continue // already read
				}
				stored.Add(m.Subject(), m.Data(), meta.Sequence.Stream, resultsSubject, summariesSubject)
				next = meta.Sequence.Stream + 1
			}
			if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read stream %s up to sequence %d (at %d): %w", stream, last, next, err)
	}
	return stored, nil
}

// retry calls f until it succeeds or ctx ends, half a second apart, and
// returns f's last error.
func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
