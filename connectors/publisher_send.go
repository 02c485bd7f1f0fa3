package connectors

// How the Publisher sends one message: through JetStream or as core NATS,
// held while the connection is down (see Publisher's doc).

import (
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publish sends msg for jo: through JetStream with an awaited ack when the
// subject is in a stream and the batch is settled, else as core NATS. It
// reports whether it went the JetStream way, where the outbox keeps msg
// (and its Data) until the ack, or for good when the publish failed.
// summary says msg is the batch's summary.
func (p *Publisher) publish(jo *jobOut, msg *nats.Msg, inStream, summary bool) (held bool) {
	var acks *batchAcks
	if inStream && jo.settles {
		if jo.acks == nil {
			jo.acks = newBatchAcks()
		}
		acks = jo.acks
	} else {
		jo.flush = true
		jo.summaryCore = jo.summaryCore || summary
	}
	if err := p.send(msg, acks, summary); err != nil {
		if p.cfg.Observer != nil {
			p.cfg.Observer.PublishFailed(msg.Subject)
		}
		if summary {
			jo.summaryErr = err
		}
		if errors.Is(err, errOutputUnavailable) {
			jo.unavailable++ // said once, by the outbox, and per batch when it is settled
			return acks != nil
		}
		jo.failed++
		p.log.Error("publish failed", "subject", msg.Subject, "bytes", len(msg.Data), "err", err)
	}
	return acks != nil
}

// send publishes msg, holding it while the client cannot buffer it, and
// through JetStream (acks non-nil) while the output stream is
// unavailable (see outbox).
func (p *Publisher) send(msg *nats.Msg, acks *batchAcks, summary bool) error {
	for {
		var err error
		if acks != nil {
			err = p.out.publish(msg, acks, summary)
		} else {
			err = p.nc.PublishMsg(msg)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, nats.ErrReconnectBufExceeded) && !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return err
		}
		if p.hold() != nil {
			return err
		}
	}
}

// hold waits for the connection, and a little more for acks to drain,
// unless ctx is done.
func (p *Publisher) hold() error {
	if err := waitConnected(p.ctx, p.nc, 50*time.Millisecond); err != nil {
		return err
	}
	t := time.NewTimer(50 * time.Millisecond)
	defer t.Stop()
	select {
	case <-p.ctx.Done():
		return p.ctx.Err()
	case <-t.C:
		return nil
	}
}
