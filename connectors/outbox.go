package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultOutputRetryFor is how long, by default, the publisher waits out
// an output stream that cannot store (no leader, no responders, acks that
// do not come) before it hands batches back: two minutes covers a
// stream's leader election after a node is lost (seconds) many times
// over, and a NATS server restart, while a stream that stays away longer
// is an outage the operator must see, not a wait to hide.
const DefaultOutputRetryFor = 2 * time.Minute

// errOutputUnavailable marks a publish refused because the output stream
// has been unavailable for longer than the retry bound.
var errOutputUnavailable = errors.New("the output stream has been unavailable for longer than the retry bound")

// outbox sends the JetStream publishes that batches wait for, and keeps
// them, in publish order, until the stream has stored them.
//
// While the output flows, publishes go out asynchronously. When one fails
// because the stream cannot be reached (unavailable), an outage begins:
// new publishes are held (publish blocks: backpressure on the pipeline),
// and one goroutine tries the oldest unacknowledged message again,
// synchronously, with backoff from 250ms to 2s, each try bounded to 2s.
// Once the stream stores it, every unacknowledged message is sent again,
// in publish order, as a fresh copy with the same Nats-Msg-Id (so the
// stream drops what it already had, and a late ack or error of an older
// copy is ignored), and then new publishes flow. A batch's results thus
// reach the stream in its order. Once an outage has lasted retryFor,
// what is unacknowledged fails as unavailable (its batches are handed
// back), and the outage goes on being probed. A batch whose publish is
// held waits at most retryFor in all, from its first held publish, then
// its publishes fail at once; the publisher being one goroutine, the
// batches behind it wait their turn meanwhile, so while the stream stays
// away the pipeline holds what it has and pulls nothing new, rather than
// fetching every batch again on each redelivery. When ctx ends, a held
// publish returns and what is unacknowledged fails at once.
//
// While the oldest unacknowledged publish has waited more than
// staleAfter for its ack, new publishes wait for it (see publish).
// Other errors (too large, limits, a wrong last sequence) fail their
// publish as they come. Safe for concurrent use.
type outbox struct {
	ctx      context.Context
	js       jetstream.JetStream
	retryFor time.Duration
	tryFor   time.Duration // bound of one synchronous try
	// staleAfter is how long the oldest publish may wait for its ack
	// before a new publish waits for it (see publish).
	staleAfter time.Duration
	log        *slog.Logger

	mu         sync.Mutex
	byMsg      map[*nats.Msg]*pubEntry // the copy in flight of each entry that has one
	head, tail *pubEntry               // unacknowledged entries, oldest first
	state      outageState
	since      time.Time     // when the outage began
	cause      error         // what began it
	changed    chan struct{} // closed when the state changes
	absorbed   int           // errors kept for a resend during outages, ever
	probe      *nats.Msg     // what a failing outbox tries
}

type outageState int

const (
	flowing outageState = iota // publishes go out
	holding                    // an outage: publishes wait, the oldest is tried again
	failing                    // an outage past retryFor: what was unacknowledged was handed back
)

var noRetries = jetstream.WithRetryAttempts(0)

// staleAckAfter bounds how long the oldest unacknowledged publish may
// wait for its ack while new publishes go out. A stream acks in
// milliseconds; a publish that has waited longer may have been lost
// without an answer (sent to a leader as its node died), and a later
// publish sent now could be stored by the next leader before it is
// retried: out of its batch's order. So a new publish waits until the
// oldest is acknowledged or fails (at worst the ack timeout).
const staleAckAfter = time.Second

// staleHeadRecheck is how often a publish waiting for a stale oldest
// publish looks again.
const staleHeadRecheck = 20 * time.Millisecond

func newOutbox(ctx context.Context, retryFor, ackTimeout time.Duration, log *slog.Logger) *outbox {
	return &outbox{ctx: ctx, retryFor: retryFor, tryFor: min(2*time.Second, ackTimeout),
		staleAfter: min(staleAckAfter, ackTimeout/2), log: log,
		byMsg: map[*nats.Msg]*pubEntry{}, changed: make(chan struct{})}
}

// options are the JetStream options that feed acks and errors to o.
func (o *outbox) options() []jetstream.JetStreamOpt {
	return []jetstream.JetStreamOpt{
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, msg *nats.Msg, _ *jetstream.PubAck) {
			o.resolve(msg, nil)
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, msg *nats.Msg, err error) {
			o.resolve(msg, err)
		}),
	}
}

// publish sends msg for b, as the outbox's state allows (see outbox). It
// returns an error only for a publish that was not sent: nats.go's own
// (the caller may wait and try again), ctx's, or one wrapping
// errOutputUnavailable.
func (o *outbox) publish(msg *nats.Msg, b *batchAcks, summary bool) error {
	for {
		o.mu.Lock()
		switch o.state {
		case flowing:
			if h := o.head; h != nil && h.inFlight != nil && time.Since(h.sentAt) > o.staleAfter {
				changed := o.changed
				o.mu.Unlock()
				if err := o.await(changed, staleHeadRecheck); err != nil {
					return err
				}
				continue
			}
			e := o.expectLocked(msg, b, summary)
			o.mu.Unlock()
			if _, err := o.js.PublishMsgAsync(msg, noRetries); err != nil {
				o.mu.Lock()
				forgot := o.forgetLocked(e, msg)
				o.mu.Unlock()
				if forgot {
					return err
				}
			}
			return nil
		}
		// An outage: the batch waits for the stream, at most retryFor in
		// all, then gives up for the rest of its publishes.
		if b.gaveUp != nil {
			err := b.gaveUp
			o.mu.Unlock()
			return err
		}
		if b.waitingSince.IsZero() {
			b.waitingSince = time.Now()
		}
		left := o.retryFor - time.Since(b.waitingSince)
		if left <= 0 {
			b.gaveUp = fmt.Errorf("%w (%s): %v", errOutputUnavailable, o.retryFor, o.cause)
			err := b.gaveUp
			o.mu.Unlock()
			return err
		}
		changed := o.changed
		o.mu.Unlock()
		if err := o.await(changed, left); err != nil {
			return err
		}
	}
}

// await waits until changed is closed or d has passed, and returns ctx's
// error if it ends first.
func (o *outbox) await(changed <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	case <-o.ctx.Done():
		return o.ctx.Err()
	}
	return nil
}

// resolve records the ack (err nil) or error of one published copy.
func (o *outbox) resolve(msg *nats.Msg, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e := o.byMsg[msg]
	if e == nil {
		return // a copy sent again since, or one forgotten
	}
	delete(o.byMsg, msg)
	e.inFlight = nil
	switch {
	case err == nil:
		o.finishLocked(e, nil, false)
	case !unavailable(err) || o.ctx.Err() != nil:
		o.finishLocked(e, err, false)
	case o.state == failing:
		o.finishLocked(e, fmt.Errorf("%w (%s): %v", errOutputUnavailable, o.retryFor, err), true)
	default:
		o.absorbed++ // kept for the resend
		if o.state == flowing {
			o.setStateLocked(holding)
			o.since, o.cause = time.Now(), err
			o.log.Warn("the output stream cannot store publishes; holding new ones and retrying", "err", err,
				"retry_for", o.retryFor)
			go o.recover()
		}
	}
}

func (o *outbox) setStateLocked(s outageState) {
	o.state = s
	close(o.changed)
	o.changed = make(chan struct{})
}

// recover runs an outage (see outbox) until the output flows again or
// ctx ends.
func (o *outbox) recover() {
	pause := newPauses(250*time.Millisecond, 2*time.Second)
	for {
		o.mu.Lock()
		if o.ctx.Err() != nil {
			n := o.failAllLocked(o.ctx.Err(), false)
			o.log.Warn("stopped waiting for the output stream: shutting down", "unstored", n)
			o.probe = nil
			o.setStateLocked(flowing)
			o.mu.Unlock()
			return
		}
		if o.state == holding && o.head == nil {
			o.setStateLocked(flowing) // everything was stored meanwhile
			o.mu.Unlock()
			return
		}
		if o.state == holding && time.Since(o.since) >= o.retryFor {
			o.probe = o.head.msg
			n := o.failAllLocked(fmt.Errorf("%w (%s): %v", errOutputUnavailable, o.retryFor, o.cause), true)
			o.setStateLocked(failing)
			o.log.Error("the output stream has been unavailable for longer than the retry bound; handing back the batches it holds, each later batch after waiting the bound, until it answers",
				"retry_for", o.retryFor, "unstored", n, "err", o.cause)
		}
		probe := o.probe
		if o.state == holding {
			probe = o.head.msg
		}
		o.mu.Unlock()

		err := o.try(probe)
		if o.ctx.Err() != nil {
			continue
		}
		if err != nil && unavailable(err) {
			pause.sleep(o.ctx)
			continue
		}
		// The stream answers: the probe is stored (or refused for good).
		o.mu.Lock()
		if e := o.head; e != nil && e.msg == probe {
			o.finishLocked(e, err, false)
		}
		copies := o.resendLocked()
		absorbed := o.absorbed
		o.mu.Unlock()
		if !o.sendAll(copies) {
			pause.sleep(o.ctx)
			continue
		}
		o.mu.Lock()
		if o.absorbed != absorbed {
			o.mu.Unlock() // some copies failed again: the outage goes on
			pause.sleep(o.ctx)
			continue
		}
		o.log.Info("the output stream stores publishes again; resent the unacknowledged ones in order",
			"after", time.Since(o.since).Round(time.Millisecond), "resent", len(copies))
		o.probe = nil
		o.setStateLocked(flowing)
		o.mu.Unlock()
		return
	}
}

// try publishes a copy of msg synchronously, bounded by tryFor.
func (o *outbox) try(msg *nats.Msg) error {
	ctx, cancel := context.WithTimeout(o.ctx, o.tryFor)
	defer cancel()
	_, err := o.js.PublishMsg(ctx, &nats.Msg{Subject: msg.Subject, Data: msg.Data, Header: msg.Header}, noRetries)
	return err
}

// sendAll publishes copies in order, waiting while nats.go holds too
// many unacknowledged; false if one could not be sent.
func (o *outbox) sendAll(copies []*nats.Msg) bool {
	for _, c := range copies {
		for {
			_, err := o.js.PublishMsgAsync(c, noRetries)
			if err == nil {
				break
			}
			if errors.Is(err, jetstream.ErrTooManyStalledMsgs) && o.ctx.Err() == nil {
				continue // registerPAF waited for a free slot already
			}
			o.mu.Lock()
			if e := o.byMsg[c]; e != nil {
				delete(o.byMsg, c)
				e.inFlight = nil
			}
			o.absorbed++
			o.mu.Unlock()
			return false
		}
	}
	return true
}

// unavailable reports whether err says the output stream could not be
// reached or answer for now (no responders while it elects a leader, an
// ack that never came, a connection lost), as opposed to a refusal that
// a retry would meet again (too large, limits, wrong last sequence).
func unavailable(err error) bool {
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrAsyncPublishTimeout), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrReconnectBufExceeded),
		errors.Is(err, jetstream.ErrTooManyStalledMsgs):
		return true
	}
	var apiErr *jetstream.APIError
	// 10008: "JetStream system temporarily unavailable", what a cluster
	// answers while it has no leader for the request.
	return errors.As(err, &apiErr) && apiErr.ErrorCode == 10008
}
