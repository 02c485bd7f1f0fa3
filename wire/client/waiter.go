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
// connection closed, or (WithNoServiceCheck) no service is there.
type waiter struct {
	ctx      context.Context
	s        *Stream
	deadline <-chan time.Time
	ticker   *time.Ticker
	probe    <-chan time.Time
	probed   chan error // the Ping's answer, once
	timers   []*time.Timer
	seen     bool // a message of this stream has come
	noSvc    bool // the probe found no service
}

func newWaiter(ctx context.Context, s *Stream) *waiter {
	w := &waiter{ctx: ctx, s: s, ticker: time.NewTicker(dropCheck)}
	if d := s.c.wait; d > 0 {
		t := time.NewTimer(time.Until(s.start.Add(d)))
		w.timers, w.deadline = append(w.timers, t), t.C
	}
	if d := s.c.probe; d > 0 {
		t := time.NewTimer(time.Until(s.start.Add(d)))
		w.timers, w.probe = append(w.timers, t), t.C
	}
	return w
}

func (w *waiter) stop() {
	w.ticker.Stop()
	for _, t := range w.timers {
		t.Stop()
	}
}

func (w *waiter) sawOwn() { w.seen, w.probe = true, nil }

func (w *waiter) next() (*nats.Msg, error) {
	for {
		select {
		case m := <-w.s.msgs:
			return m, nil
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
			if w.seen || !errors.Is(err, ErrNoService) {
				continue // a service answered, or it could not be told
			}
			err = fmt.Errorf("nothing came %s after publishing: %w", w.s.c.probe, err)
			if w.s.c.warn == nil {
				return nil, err
			}
			w.noSvc = true
			w.s.c.warn(err)
		}
	}
}

func (w *waiter) silence() string {
	if w.seen {
		return "the service answered, but not in full"
	}
	return "not one result or summary came"
}

// progress says which batch the wait is on.
func (s *Stream) progress() string {
	done := 0
	for k := range s.parts {
		if s.summary(k) != nil {
			done++
		}
	}
	return fmt.Sprintf("%d of %d batches done (%s first)", done, len(s.parts), s.parts[0].batch.ID)
}
