package client

import (
	"context"
	"errors"

	"github.com/fetchstream/fetchstream/wire"
)

// Gathered is what Gather returns: every URL's result in list order, and
// the batches' summaries.
type Gathered struct {
	// Results[i] is the result of URL i of the whole list. The slots of a
	// batch the service rejected hold the URL with the batch's error kind
	// (wire.ErrInvalidBatch, wire.ErrBatchTooLarge, ...) and message.
	Results []wire.Result
	// Summaries are the batches' summaries, in order (one per batch).
	Summaries []wire.Summary
}

// OK reports whether every URL was fetched with a status below 400.
func (g *Gathered) OK() bool {
	for i := range g.Results {
		if !g.Results[i].OK() {
			return false
		}
	}
	return true
}

// Gather publishes urls as one batch (or several, see Publish) and waits
// for every result; see GatherBatch.
func (c *Client) Gather(ctx context.Context, urls []string) (*Gathered, error) {
	return c.GatherBatch(ctx, wire.Batch{URLs: wire.URLs(urls...)})
}

// GatherBatch publishes b and waits until every batch has ended, bounded
// by ctx and WithWaitTimeout. Per-URL failures are data (a result with an
// Error), not errors. When the service rejected batches, the Gathered is
// complete and the error joins their *BatchError. On any other error
// (see Stream) the Gathered holds what came before it, with zero results
// in the other slots.
func (c *Client) GatherBatch(ctx context.Context, b wire.Batch) (*Gathered, error) {
	s, err := c.Publish(ctx, b)
	if err != nil {
		return nil, err
	}
	g := &Gathered{Results: make([]wire.Result, s.Len())}
	var rejected []error
	for r, err := range s.Results(ctx) {
		var be *BatchError
		switch {
		case errors.As(err, &be):
			rejected = append(rejected, err)
			fillRejected(g.Results, s.parts, be)
		case err != nil:
			g.Summaries = s.Summaries()
			return g, err
		default:
			g.Results[r.Position] = r.Result
		}
	}
	g.Summaries = s.Summaries()
	return g, errors.Join(rejected...)
}

func fillRejected(results []wire.Result, parts []part, be *BatchError) {
	for _, p := range parts {
		if p.batch.ID != be.ID {
			continue
		}
		for pos := be.First; pos < be.First+be.Count; pos++ {
			i := pos - p.first
			results[pos] = wire.Result{BatchID: p.batch.ID, CorrelationID: p.batch.CorrelationID, Index: i,
				Count: len(p.batch.URLs), URL: p.batch.URLs[i].URL, Error: be.Kind, Message: be.Message}
		}
	}
}
