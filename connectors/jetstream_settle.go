package connectors

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
)

// jsSettler settles one JetStream message for the sink (stages.Settler).
// It settles at most once; later calls do nothing. Until it has settled,
// the source keeps the message alive with InProgress.
type jsSettler struct {
	src     *JetStreamSource
	msg     jetstream.Msg
	meta    *jetstream.MsgMetadata
	settled atomic.Bool
}

var _ stages.Settler = (*jsSettler)(nil)

// Redeliverable is true: an unfinished batch is nak'ed and comes again.
func (st *jsSettler) Redeliverable() bool { return true }

// Done acks a complete batch, naks an incomplete one for redelivery at
// once, and dead-letters and terminates a rejected one (reject is a
// *stages.BatchError when the decoder refused the batch).
func (st *jsSettler) Done(complete bool, reject error) error {
	if reject != nil {
		kind, reason := wire.DeadInvalidBatch, reject.Error()
		var be *stages.BatchError
		if errors.As(reject, &be) {
			kind, reason = string(be.Kind), be.Message
		}
		return st.deadLetter(kind, reason)
	}
	if !st.settled.CompareAndSwap(false, true) {
		return nil
	}
	defer st.src.unhold(st)
	if complete {
		st.src.acked.Add(1)
		// Not AckSync: waiting for the server's confirmation cost up to a
		// fifth of the throughput of one-URL batches, and buys nothing an
		// at-least-once consumer needs (a lost ack means a redelivery).
		return st.msg.Ack()
	}
	st.src.nakked.Add(1)
	return st.msg.Nak()
}

// deadLetter publishes the batch on the dead-letter subject, then
// terminates it so it is never delivered again. If the publish fails the
// batch is kept: nak'ed with a delay, so dead-lettering is tried again,
// or, on its last delivery, left in the stream, where the server will
// not deliver it again.
func (st *jsSettler) deadLetter(kind, reason string) error {
	if !st.settled.CompareAndSwap(false, true) {
		return nil
	}
	defer st.src.unhold(st)
	src := st.src
	ctx, cancel := context.WithTimeout(context.Background(), src.redelivery)
	defer cancel()
	err := src.cfg.DeadLetter.publish(ctx, deadLetter{
		data: st.msg.Data(), header: st.msg.Headers(), kind: kind, reason: reason,
		stream: st.meta.Stream, seq: st.meta.Sequence.Stream, deliveries: st.meta.NumDelivered,
	})
	log := src.log.With("kind", kind, "reason", reason, "stream", st.meta.Stream,
		"stream_seq", st.meta.Sequence.Stream, "deliveries", st.meta.NumDelivered, "dead_letter", src.cfg.DeadLetter.Subject())
	if err != nil {
		last := src.maxDeliver > 0 && st.meta.NumDelivered >= uint64(src.maxDeliver)
		log.Error("could not publish a batch on the dead-letter subject; it stays in the stream", "last_delivery", last, "err", err)
		if !last {
			src.nakked.Add(1)
			_ = st.msg.NakWithDelay(src.redelivery)
		}
		return err
	}
	src.deadCount.Add(1)
	log.Warn("batch sent to the dead-letter subject and terminated")
	return st.msg.TermWithReason(kind + ": " + reason)
}

// inProgress resets the server's redelivery timer for the message.
func (st *jsSettler) inProgress() {
	if err := st.msg.InProgress(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		st.src.log.Debug("in-progress ack failed", "stream_seq", st.meta.Sequence.Stream, "err", err)
	}
}
