package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// dropCheck is how often a wait asks NATS whether it dropped messages
// for this client, and whether the connection is closed.
const dropCheck = 200 * time.Millisecond

// waiter takes a Stream's next message, or says why none will come: the
// context ended, the wait timeout passed, NATS dropped messages, the
// connection closed, NATS said nothing subscribes to the input subject,
// or (WithNoServiceCheck) no service is there, or a batch left the
// JetStream stream but its end never came. It reads the batches
// subject for a refusal of the inbox until a reply comes, and tells of
// silences (WithSilenceNotice).
type waiter struct {
	ctx      context.Context
	s        *Stream
	deadline <-chan time.Time
	ticker   *time.Ticker
	probe    <-chan time.Time
	probed   chan error // the Ping's answer, once
	timers   []*time.Timer
	quiet    *time.Timer // reset by each message: a Silence, noticed (WithSilenceNotice)
	gone     []int       // parts the stream no longer holds: the verdict, after grace and the messages in hand
	grace    <-chan time.Time
	graced   bool
	last     time.Time // the publish, or the last message
	seen     bool      // a message of this stream has come
	noSvc    bool      // the probe found no service
}

func newWaiter(ctx context.Context, s *Stream) *waiter {
	w := &waiter{ctx: ctx, s: s, ticker: time.NewTicker(dropCheck), last: s.start}
	if d := s.c.wait; d > 0 {
		t := time.NewTimer(time.Until(s.start.Add(d)))
		w.timers, w.deadline = append(w.timers, t), t.C
	}
	if d := s.c.probe; d > 0 {
		t := time.NewTimer(time.Until(s.start.Add(d)))
		w.timers, w.probe = append(w.timers, t), t.C
	}
	w.quiet = time.NewTimer(time.Until(s.start.Add(w.quietEvery())))
	w.timers = append(w.timers, w.quiet)
	return w
}

// leftGrace is how long a wait gives the summary of a batch that left
// the stream to come before it ends with ErrLeftStream.
const leftGrace = time.Second

// leftCheck is how often a silent wait asks the stream whether it still
// holds its batches, when there is no WithSilenceNotice.
const leftCheck = 10 * time.Second

func (w *waiter) quietEvery() time.Duration {
	if d := w.s.c.quiet; d > 0 && w.s.c.notice != nil {
		return d
	}
	return leftCheck
}

func (w *waiter) stop() {
	w.ticker.Stop()
	for _, t := range w.timers {
		t.Stop()
	}
}

// sawOwn notes a message of the stream's batches: a service serves them;
// when it came to the inbox (a reply, not a refusal on the batches
// subject), the inbox was not refused.
func (w *waiter) sawOwn(reply bool) {
	w.seen, w.probe = true, nil
	if reply {
		w.s.stopRefusals()
	}
}

func (w *waiter) next() (*nats.Msg, error) {
	m, err := w.wait()
	if m != nil {
		w.last = time.Now()
		w.quiet.Reset(w.quietEvery())
	}
	return m, err
}

func (w *waiter) wait() (*nats.Msg, error) {
	for {
		if w.gone != nil && w.graced && len(w.s.msgs) == 0 {
			if err := w.s.leftStream(w.gone); err != nil {
				return nil, err
			}
			w.gone, w.graced = nil, false
		}
		select {
		case m := <-w.s.msgs:
			if noResponders(m) {
				return nil, w.dropped()
			}
			return m, nil
		case m := <-w.s.others:
			if m = w.s.refusal(m); m != nil {
				return m, nil
			}
		case <-w.ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w", w.s.progress(), w.ctx.Err())
		case <-w.deadline:
			if err := w.s.dropped(); err != nil {
				return nil, err
			}
			err := fmt.Errorf("%w after %s: %s, %s%s", ErrWaitTimeout, w.s.c.wait, w.s.progress(), w.silence(), w.stored())
			if w.noSvc { // the warning said why; ErrNoService is not said again
				err = &joined{msg: fmt.Sprintf("%v, and no service seems to consume %s", err, w.s.c.in), errs: []error{err, ErrNoService}}
			}
			return nil, err
		case <-w.ticker.C:
			if err := w.s.dropped(); err != nil {
				return nil, err
			}
			if w.s.c.nc.IsClosed() {
				return nil, fmt.Errorf("waiting for %s: %w", w.s.progress(), nats.ErrConnectionClosed)
			}
		case <-w.probe:
			w.probe, w.probed = nil, make(chan error, 1)
			go func() { w.probed <- w.s.c.Ping(w.ctx) }()
		case err := <-w.probed:
			w.probed = nil
			var none *NoServiceError
			if w.seen || !errors.As(err, &none) {
				continue // a service answered, or it could not be told
			}
			err = fmt.Errorf("nothing came %s after publishing: %w", w.s.c.probe, err)
			if w.s.c.warn == nil || none.Stream == "" {
				return nil, err // with no stream, nothing will ever serve the batches
			}
			w.noSvc = true
			w.s.c.warn(err)
		case <-w.grace:
			w.grace, w.graced = nil, true
		case <-w.quiet.C:
			w.quiet.Reset(w.quietEvery())
			sil, gone := w.s.silence(w.ctx, time.Since(w.last))
			if len(gone) > 0 && w.gone == nil {
				// Their summaries may be on the way still (in a cluster,
				// by another route than the stream's answer): the verdict
				// comes after a round trip, a grace, and the messages in
				// hand.
				ctx, cancel := context.WithTimeout(w.ctx, silenceLookup)
				_ = w.s.c.nc.FlushWithContext(ctx)
				cancel()
				w.gone, w.grace = gone, time.After(leftGrace)
				continue
			}
			if w.s.c.notice != nil {
				w.s.c.notice(sil)
			}
		}
	}
}

// noResponders reports whether m is NATS's word that nothing subscribed
// to the subject a batch was published on (a 503 status to the inbox).
func noResponders(m *nats.Msg) bool {
	return len(m.Data) == 0 && m.Header.Get("Status") == "503"
}

// dropped is the error of a batch that NATS dropped for want of a
// subscriber, with the subjects the services read, if any answer.
func (w *waiter) dropped() error {
	e := &NoServiceError{Subject: w.s.c.in, Dropped: true}
	if others, err := w.s.c.pingMicro(w.ctx); errors.Is(err, ErrNoService) {
		e.Others = others
	}
	return e
}

// stored says, at the wait timeout, what becomes of the first batch not
// ended that the stream still holds: "" in core mode, or when it cannot be
// told.
func (w *waiter) stored() string {
	sil, _ := w.s.silence(w.ctx, 0)
	if !sil.Held {
		return ""
	}
	if sil.Taken {
		return fmt.Sprintf("; a service holds batch %s from stream %s and goes on with it without this wait", sil.First, sil.Stream)
	}
	return fmt.Sprintf("; batch %s stays stored in stream %s, and is fetched when a `fetchstream run --jetstream` starts (to drop it instead: `nats stream rmm %s %d -f`)",
		sil.First, sil.Stream, sil.Stream, w.s.parts[w.s.byID[sil.First]].seq)
}

func (w *waiter) silence() string {
	if w.seen {
		return "the service answered, but not in full"
	}
	return "not one result or summary came"
}

// progress says which batch the wait is on.
func (s *Stream) progress() string {
	return fmt.Sprintf("%d of %d batches done (%s first)", s.done(), len(s.parts), s.parts[0].batch.ID)
}

func (s *Stream) done() int {
	done := 0
	for k := range s.parts {
		if s.summary(k) != nil {
			done++
		}
	}
	return done
}
