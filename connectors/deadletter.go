package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/wire"
)

// StreamOf returns the name of the stream that captures subject, or ""
// when none does or the server has no JetStream. While JetStream cannot
// answer (no meta leader elected yet, a node lost), it asks again, each
// try within SetupTryTimeout, until ctx ends, saying on log (nil: no log)
// what it waits for (see setupStep).
func StreamOf(ctx context.Context, js jetstream.JetStream, subject string, log *slog.Logger) (string, error) {
	return setupStep(ctx, js.Conn(), log, "JetStream to say which stream captures "+subject,
		func(ctx context.Context) (string, error) {
			name, err := js.StreamNameBySubject(ctx, subject)
			switch {
			case err == nil:
				return name, nil
			case errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, jetstream.ErrJetStreamNotEnabled),
				errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
				return "", nil
			case errors.Is(err, nats.ErrNoResponders):
				if _, mayPass := setupMayPass(js.Conn(), err); !mayPass {
					return "", nil // a server without JetStream
				}
			}
			return "", fmt.Errorf("which stream captures %q: %w", subject, err)
		})
}

// DeadLetter publishes the batches the JetStream mode gives up on: the
// original message with wire.HeaderDead* headers added. When its subject
// is in a stream, Publish returns only once the stream has stored the
// message; otherwise once the server has it (a flush). Safe for concurrent
// use.
type DeadLetter struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
	stream  string
}

// NewDeadLetter checks whether subject is in a stream and returns the
// publisher for it. The check waits out an election as StreamOf does,
// until ctx ends, without logging.
func NewDeadLetter(ctx context.Context, nc *nats.Conn, subject string) (*DeadLetter, error) {
	if subject == "" {
		return nil, configError("Subject", "must not be empty")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	stream, err := StreamOf(ctx, js, subject, nil)
	if err != nil {
		return nil, err
	}
	return &DeadLetter{nc: nc, js: js, subject: subject, stream: stream}, nil
}

// Subject is where dead letters go.
func (d *DeadLetter) Subject() string { return d.subject }

// deadLetter is one batch given up on, with where it was and why.
type deadLetter struct {
	data       []byte
	header     nats.Header
	kind       string
	reason     string
	stream     string
	seq        uint64
	deliveries uint64
	summary    []byte // the batch's summary, nil if it has none
	summaryErr error  // why the summary is not stored where results go; nil if it is
}

// publish sends the dead letter, holding while the connection is down,
// until ctx ends.
func (d *DeadLetter) publish(ctx context.Context, dl deadLetter) error {
	h := nats.Header{}
	for k, v := range dl.header {
		// Nats-* headers told the server how to take the original publish
		// (its message id, Nats-Expected-Stream and the other conditions,
		// a rollup, a TTL): on the dead letter they would be obeyed again,
		// against another stream, and refuse or purge it.
		if !strings.HasPrefix(strings.ToLower(k), "nats-") {
			h[k] = v
		}
	}
	h.Set(wire.HeaderDeadKind, dl.kind)
	h.Set(wire.HeaderDeadReason, dl.reason)
	h.Set(wire.HeaderDeadStream, dl.stream)
	h.Set(wire.HeaderDeadSeq, strconv.FormatUint(dl.seq, 10))
	h.Set(wire.HeaderDeadDeliveries, strconv.FormatUint(dl.deliveries, 10))
	if dl.summary != nil {
		h.Set(wire.HeaderDeadSummary, headerValue(dl.summary))
	}
	if dl.summaryErr != nil {
		h.Set(wire.HeaderDeadSummaryError, headerValue([]byte(dl.summaryErr.Error())))
	}
	// The stream and sequence name this batch for good, so a dead letter
	// published twice (a retry after a lost ack) is stored once.
	h.Set(nats.MsgIdHdr, dl.stream+"/"+strconv.FormatUint(dl.seq, 10)+"/dead")
	msg := fitDeadLetter(&nats.Msg{Subject: d.subject, Data: dl.data, Header: h}, d.nc.MaxPayload())
	retry := time.NewTicker(250 * time.Millisecond)
	defer retry.Stop()
	for {
		err := d.try(ctx, msg)
		if err == nil {
			return nil
		}
		if permanent(err) {
			return fmt.Errorf("dead letter on %s: %w", d.subject, err)
		}
		if waitConnected(ctx, d.nc, 50*time.Millisecond) != nil {
			return fmt.Errorf("dead letter on %s: %w", d.subject, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dead letter on %s: %w", d.subject, err)
		case <-retry.C:
		}
	}
}

func (d *DeadLetter) try(ctx context.Context, msg *nats.Msg) error {
	if d.stream != "" {
		_, err := d.js.PublishMsg(ctx, msg)
		return err
	}
	if err := d.nc.PublishMsg(msg); err != nil {
		return err
	}
	return d.nc.FlushWithContext(ctx)
}

// fitDeadLetter makes msg fit in maxPayload bytes, as the server counts
// them (data and headers): it leaves out the summary first, then the
// data (saying so in wire.HeaderDeadDataDropped). A dead letter is the
// batch, which fit in one message, plus headers; without this, one near
// the limit could never be published, and would be retried in vain.
func fitDeadLetter(msg *nats.Msg, maxPayload int64) *nats.Msg {
	if maxPayload <= 0 || messageSize(msg) <= maxPayload {
		return msg
	}
	msg.Header.Del(wire.HeaderDeadSummary)
	if messageSize(msg) <= maxPayload {
		return msg
	}
	msg.Header.Set(wire.HeaderDeadDataDropped, strconv.Itoa(len(msg.Data)))
	msg.Data = nil
	return msg
}

// messageSize is what the server counts against its max payload: the
// data and the header block ("NATS/1.0\r\n", a line per value, "\r\n").
func messageSize(msg *nats.Msg) int64 {
	n := len("NATS/1.0\r\n\r\n") + len(msg.Data)
	for k, vs := range msg.Header {
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	return int64(n)
}

// permanent reports whether a dead letter's publish failed in a way a
// retry would meet again: too large, or refused by its stream.
func permanent(err error) bool {
	var api *jetstream.APIError
	return errors.Is(err, nats.ErrMaxPayload) || (errors.As(err, &api) && api.Code != 503 && api.Code != 0)
}

// headerValue is b as one header line: line breaks become spaces (JSON
// has none outside its strings, where they are escaped).
func headerValue(b []byte) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(string(b))
}
