package client

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/tracectx"
)

// publishTimeout bounds one publish (or the flush of core publishes) when
// the context has no deadline of its own.
const publishTimeout = 10 * time.Second

// Publish validates b (see Send), subscribes to the results and summary
// subjects, publishes b's batches in order and returns the Stream that
// follows them. Subscribing first means no result can come before the
// client listens. ctx bounds the publishing only; Stream.Results takes
// the context of the wait. The caller must consume or Close the Stream.
func (c *Client) Publish(ctx context.Context, b wire.Batch) (*Stream, error) {
	parts, err := c.prepare(b)
	if err != nil {
		return nil, err
	}
	s, err := c.follow(ctx, parts)
	if err != nil {
		return nil, err
	}
	if err := c.send(ctx, parts, s.inbox); err != nil {
		s.Close()
		return nil, err
	}
	s.start = time.Now()
	return s, nil
}

// Send publishes b without following its results and returns the batches
// as published (ids ID-1, ID-2, ... when the list was split).
//
// Before anything is published, b is checked by the service's own rules
// (wire.DecodeBatch) and against the server's max payload: what the
// service would refuse or rename (an id over wire.MaxIDLength bytes, or
// not UTF-8) is an error wrapping ErrInvalidBatch. When a JetStream stream
// captures the input subject, each batch goes through JetStream with its
// id as Nats-Msg-Id and Send waits for the stream's ack; an ack saying
// duplicate (the id was used inside the stream's duplicate window) is an
// error wrapping ErrDuplicate, since the service will not run that batch
// again. Otherwise the batches are published on core NATS and flushed.
// An empty b.ID becomes a new unique id; b.TimeoutMS 0 takes WithTimeout,
// and b's request options take WithRequestOptions's where they are empty.
func (c *Client) Send(ctx context.Context, b wire.Batch) ([]wire.Batch, error) {
	parts, err := c.prepare(b)
	if err != nil {
		return nil, err
	}
	if err := c.send(ctx, parts, ""); err != nil {
		return nil, err
	}
	out := make([]wire.Batch, len(parts))
	for i, p := range parts {
		out[i] = p.batch
	}
	return out, nil
}

func (c *Client) prepare(b wire.Batch) ([]part, error) {
	if b.TimeoutMS == 0 && c.timeout > 0 {
		b.TimeoutMS = c.timeout.Milliseconds()
	}
	b = withRequestDefaults(b, c.request)
	return split(b, c.maxBatch, c.nc.MaxPayload()-headerRoom)
}

// send publishes the batches, each asking for a streamed reply to inbox
// unless it is "".
func (c *Client) send(ctx context.Context, parts []part, inbox string) error {
	stream, err := c.inputStream(ctx)
	if err != nil {
		return err
	}
	var header nats.Header
	if inbox != "" {
		header = nats.Header{wire.HeaderReplyTo: {inbox}, wire.HeaderReplyStream: {"true"}}
	}
	header = tracectx.InjectContext(ctx, header) // the caller's span, if any, is the batches' parent
	if stream == "" {
		// The reply subject, besides the header, asks NATS to say at once
		// (a 503 status message to the inbox) when nothing subscribes to
		// the input subject: the waiter then ends the wait, as the batch
		// is gone. The service reads the header first: the same inbox.
		for _, p := range parts {
			if err := c.nc.PublishMsg(&nats.Msg{Subject: c.in, Reply: inbox, Data: p.data, Header: header}); err != nil {
				return fmt.Errorf("publish batch %s: %w", p.batch.ID, err)
			}
		}
		flushCtx, cancel := withDefaultTimeout(ctx, publishTimeout)
		defer cancel()
		if err := c.nc.FlushWithContext(flushCtx); err != nil {
			return fmt.Errorf("publish batches: flush: %w", err)
		}
		return nil
	}
	for i, p := range parts {
		seq, err := c.sendJetStream(ctx, stream, p.batch.ID, p.data, header)
		if err != nil {
			return err
		}
		parts[i].seq = seq
	}
	return nil
}

// sendJetStream publishes one batch to stream and returns its sequence
// there.
func (c *Client) sendJetStream(ctx context.Context, stream, id string, data []byte, header nats.Header) (uint64, error) {
	ctx, cancel := withDefaultTimeout(ctx, publishTimeout)
	defer cancel()
	ack, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: c.in, Data: data, Header: header},
		jetstream.WithMsgID(id), jetstream.WithExpectStream(stream))
	if err != nil {
		return 0, fmt.Errorf("publish batch %s to stream %s: %w", id, stream, err)
	}
	if ack.Duplicate {
		return 0, fmt.Errorf("%w: batch %s was published to stream %s within its duplicate window%s (as sequence %d; the stream may have removed it since), so the stream drops this one: use another id",
			ErrDuplicate, id, stream, c.duplicateWindow(ctx, stream), ack.Sequence)
	}
	return ack.Sequence, nil
}

// duplicateWindow is " (D)", the duplicate window of stream, or "" when
// it cannot be told.
func (c *Client) duplicateWindow(ctx context.Context, stream string) string {
	s, err := c.js.Stream(ctx, stream)
	if err != nil || s.CachedInfo().Config.Duplicates <= 0 {
		return ""
	}
	return fmt.Sprintf(" (%s)", s.CachedInfo().Config.Duplicates)
}

// withDefaultTimeout bounds ctx by d unless it has a deadline already.
func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
