package client

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/wire"
)

// headerRoom is the part of the server's max payload kept for headers
// (Nats-Msg-Id holds an id of up to wire.MaxIDLength bytes).
const headerRoom = 512

// part is one batch of a split list, with its place in the whole list.
type part struct {
	batch wire.Batch
	first int    // position of its URL 0 in the whole list
	data  []byte // its JSON, as published
	seq   uint64 // its sequence in the input stream (the PubAck's); 0 in core mode
}

// split validates b by the service's own rules and cuts it into batches
// of at most maxBatch URLs and at most maxBytes of JSON each, in order.
// One batch keeps b's id; several are named ID-1, ID-2, ... and share
// the correlation id (b's, or else ID). An empty id becomes a new unique
// one, since the client must know the id to match the results.
func split(b wire.Batch, maxBatch int, maxBytes int64) ([]part, error) {
	if len(b.URLs) == 0 {
		return nil, fmt.Errorf("%w: no URLs", ErrInvalidBatch)
	}
	if b.ID == "" {
		b.ID = newID()
	}
	template := b
	template.URLs = nil
	base, err := json.Marshal(template) // the object around the URLs
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidBatch, err)
	}
	// Room for the "-N" suffix and the correlation id a split adds.
	overhead := int64(len(base)) + 24 + int64(len(`,"correlation_id":`)+len(b.ID)*2+2)
	var parts []part
	current, size := []wire.Request(nil), overhead
	first := 0
	flush := func() {
		parts = append(parts, part{batch: wire.Batch{URLs: current}, first: first})
		first += len(current)
		current, size = nil, overhead
	}
	for _, u := range b.URLs {
		quoted, _ := json.Marshal(u)
		cost := int64(len(quoted)) + 1
		if overhead+cost > maxBytes {
			return nil, fmt.Errorf("%w: URL at position %d is %d bytes, too long for one NATS message of %d",
				ErrInvalidBatch, first+len(current), len(quoted), maxBytes)
		}
		if len(current) > 0 && (len(current) == maxBatch || size+cost > maxBytes) {
			flush()
		}
		current = append(current, u)
		size += cost
	}
	flush()
	for i := range parts {
		p := &parts[i]
		urls := p.batch.URLs
		p.batch = b
		p.batch.URLs = urls
		if len(parts) > 1 {
			p.batch.ID = b.ID + "-" + strconv.Itoa(i+1)
			if p.batch.CorrelationID == "" {
				p.batch.CorrelationID = b.ID
			}
		}
		if p.data, err = encode(p.batch, maxBytes); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

// encode marshals a batch and checks it as the service will decode it
// (wire.DecodeBatch), so what the service would refuse is refused here.
func encode(b wire.Batch, maxBytes int64) ([]byte, error) {
	data, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidBatch, err)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("%w: batch %s is %d bytes, over the %d a message may hold", ErrInvalidBatch, b.ID, len(data), maxBytes)
	}
	decoded, err := wire.DecodeBatch(data, "")
	if err != nil {
		return nil, invalid(ErrInvalidBatch, fmt.Sprintf("batch %.40q", b.ID), err, wire.ErrBadBatch)
	}
	if decoded.ID != b.ID { // e.g. not UTF-8: the results would name another id
		return nil, fmt.Errorf("%w: batch id %.40q does not survive JSON", ErrInvalidBatch, b.ID)
	}
	return data, nil
}

// isNoStream reports whether err says no stream captures a subject (or
// JetStream is off), as opposed to a failure to ask.
func isNoStream(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) || errors.Is(err, nats.ErrNoResponders)
}

// newID returns a new unique batch id: 22 random letters and digits.
func newID() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	id := make([]byte, 22)
	_, _ = rand.Read(id) // never fails (crypto/rand)
	for i, b := range id {
		id[i] = alphabet[int(b)%len(alphabet)]
	}
	return string(id)
}

// Split checks b and cuts it as Publish and Send do, for a program that
// publishes the batches itself: at most maxBatch URLs and maxBytes of JSON
// each, named ID-1, ID-2, ... sharing the correlation id (b's, or ID)
// when there are several. Errors wrap ErrInvalidBatch.
func Split(b wire.Batch, maxBatch int, maxBytes int64) ([]wire.Batch, error) {
	if maxBatch < 1 {
		return nil, fmt.Errorf("%w: max batch must be at least 1, got %d", ErrInvalidBatch, maxBatch)
	}
	parts, err := split(b, maxBatch, maxBytes)
	if err != nil {
		return nil, err
	}
	out := make([]wire.Batch, len(parts))
	for i, p := range parts {
		out[i] = p.batch
	}
	return out, nil
}
