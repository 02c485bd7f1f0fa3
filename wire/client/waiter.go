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
// or (WithNoServiceCheck) no service is there. It reads the batches
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
	quiet    *time.Timer // WithSilenceNotice, reset by each message
	last     time.Time   // the publish, or the last message
	seen     bool        // a message of this stream has come
	noSvc    bool        // the probe found no service
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
	if d := s.c.quiet; d > 0 && s.c.notice != nil {
		w.quiet = time.NewTimer(time.Until(s.start.Add(d)))
		w.timers = append(w.timers, w.quiet)
	}
	return w
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
		if w.quiet != nil {
			w.quiet.Reset(w.s.c.quiet)
		}
	}
	return m, err
}

func (w *waiter) wait() (*nats.Msg, error) {
	for {
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
			err := fmt.Errorf("%w after %s: %s, %s", ErrWaitTimeout, w.s.c.wait, w.s.progress(), w.silence())
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
		case <-w.quietC():
			w.s.c.notice(w.s.silence(w.ctx, time.Since(w.last)))
			w.quiet.Reset(w.s.c.quiet)
		}
	}
}

func (w *waiter) quietC() <-chan time.Time {
	if w.quiet == nil {
		return nil
	}
	return w.quiet.C
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
