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
	return st.settleOutcome(outcome{complete: complete, reject: reject})
}

var _ outcomeSettler = (*jsSettler)(nil)

// settleOutcome settles the message as o says: a rejected batch is
// dead-lettered (with its summary when that is not stored) and
// terminated; a complete and confirmed one acked; one whose output
// stream was unavailable past the retry bound nak'ed with
// HandBackDelay; any other nak'ed for redelivery at once. It logs what
// it did.
func (st *jsSettler) settleOutcome(o outcome) error {
	if o.reject != nil {
		kind, reason := wire.DeadInvalidBatch, o.reject.Error()
		var be *stages.BatchError
		if errors.As(o.reject, &be) {
			kind, reason = string(be.Kind), be.Message
		}
		return st.deadLetter(kind, reason, o.summary, o.summaryErr)
	}
	if !st.settled.CompareAndSwap(false, true) {
		return nil
	}
	defer st.src.unhold(st)
	if o.complete && o.problem == nil {
		st.src.acked.Add(1)
		// Not AckSync: waiting for the server's confirmation cost up to a
		// fifth of the throughput of one-URL batches, and buys nothing an
		// at-least-once consumer needs (a lost ack means a redelivery).
		return st.msg.Ack()
	}
	st.src.nakked.Add(1)
	log := st.src.log.With("stream_seq", st.meta.Sequence.Stream, "deliveries", st.meta.NumDelivered)
	if o.later {
		delay := HandBackDelay(st.src.redelivery, st.meta.NumDelivered)
		err := st.msg.NakWithDelay(delay)
		if err != nil {
			log = log.With("nak_err", err) // then it comes again after the ack wait
		}
		log.Warn("batch handed back for redelivery later: its output stream was unavailable", "in", delay, "err", o.problem)
		return err
	}
	err := st.msg.Nak()
	if err != nil {
		log.Warn("could not hand the batch back; it comes again after the ack wait", "err", err, "why", o.problem)
	} else if o.problem != nil {
		log.Warn("batch handed back for redelivery", "err", o.problem)
	}
	return err
}

// deadLetter publishes the batch on the dead-letter subject, then
// terminates it so it is never delivered again. The dead letter carries
// the batch's summary, if it has one, and when summaryErr says it was not
// stored where the results go, why. If the publish fails the batch is
// kept: nak'ed with a delay, so dead-lettering is tried again, or, on its
// last delivery, left in the stream, where the server will not deliver
// it again.
func (st *jsSettler) deadLetter(kind, reason string, summary []byte, summaryErr error) error {
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
		summary: summary, summaryErr: summaryErr,
	})
	log := src.log.With("kind", kind, "reason", reason, "stream", st.meta.Stream,
		"stream_seq", st.meta.Sequence.Stream, "deliveries", st.meta.NumDelivered, "dead_letter", src.cfg.DeadLetter.Subject())
	if summaryErr != nil {
		log = log.With("summary_err", summaryErr)
	}
	if err != nil {
		if src.maxDeliver > 0 && st.meta.NumDelivered >= uint64(src.maxDeliver) {
			log.Error("could not publish a batch on the dead-letter subject on its last delivery; it stays in the stream, which will not deliver it again", "err", err)
			return err
		}
		src.nakked.Add(1)
		log.Error("could not publish a batch on the dead-letter subject; handed back to try again", "in", src.redelivery, "err", err)
		_ = st.msg.NakWithDelay(src.redelivery)
		return err
	}
	src.deadCount.Add(1)
	termErr := st.msg.TermWithReason(kind + ": " + reason)
	if termErr != nil {
		log = log.With("term_err", termErr)
	}
	switch {
	case summaryErr != nil:
		log.Warn("batch dead-lettered; its summary could not be stored where its results go, so the dead letter carries it")
	case summary == nil:
		log.Warn("batch dead-lettered without a summary: it was handed in on its last delivery while the service shut down, before it had one")
	default:
		log.Warn("batch dead-lettered after its summary was stored")
	}
	return termErr
}

// inProgress resets the server's redelivery timer for the message.
func (st *jsSettler) inProgress() {
	if err := st.msg.InProgress(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		st.src.log.Debug("in-progress ack failed", "stream_seq", st.meta.Sequence.Stream, "err", err)
	}
}
