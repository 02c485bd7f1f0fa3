// Package connectors moves fetchstream's elements in and out of NATS as
// go-streams Sources and Sinks: CoreSource reads batches from a core NATS
// queue group (at-most-once), JetStreamSource from a durable JetStream
// pull consumer (at-least-once), and Publisher publishes results,
// summaries and replies (one message, or streamed: see
// wire.HeaderReplyStream) and settles the input once they are out.
// EnsureResultsStream keeps results and summaries in a stream, each once
// per Nats-Msg-Id; ObjectStore keeps bodies over the inline cap in an
// Object Store bucket. Every stream and bucket they create takes a
// replica count, for a NATS cluster.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/reugn/go-streams"
	"github.com/reugn/go-streams/flow"

	"github.com/fetchstream/fetchstream/stages"
)

// ErrConfig is wrapped by the errors of connector constructors.
var ErrConfig = errors.New("invalid connector configuration")

// CoreSourceConfig says what a CoreSource subscribes to.
type CoreSourceConfig struct {
	Subject string // input subject, e.g. fetch.urls
	Queue   string // queue group shared by replicas; each message goes to one
	// PendingMsgs and PendingBytes bound what the client buffers while the
	// pipeline is busy; past them the server's messages are dropped for
	// this client and a slow-consumer error is reported. 0 means the
	// default (DefaultPendingBatches, DefaultPendingBytes); PendingBytes,
	// when set, at least 1KiB.
	PendingMsgs  int
	PendingBytes int
	// Replies decides where a batch's reply may go; nil: the inboxes of
	// DefaultReplySubjects alone (see ReplyPolicy).
	Replies *ReplyPolicy
}

// CoreSource is a go-streams Source of *stages.Inbound from a core NATS
// queue subscription (at-most-once: a message in a process that dies is
// lost). It emits messages in the order the subscription delivers them,
// blocking the delivery while the pipeline is busy. When ctx is canceled
// it drains: it first stops the feeders attached to it (the micro
// endpoint, see RegisterMicro), so they take no more requests, then
// drains its subscription: it stops taking new messages, emits those
// already delivered, then closes Out. CoreSource closes Out; the caller
// must not. No lock is held across a send on Out: an offer that finds
// the source closed is refused at once, and the close waits only for the
// sends under way, which the pipeline takes (it reads Out until it is
// closed).
type CoreSource struct {
	nc       *nats.Conn
	subject  string
	replies  *ReplyPolicy
	sub      *nats.Subscription
	out      chan any
	draining atomic.Bool

	mu      sync.Mutex
	closed  bool
	offers  sync.WaitGroup // offers that passed the closed check, until their send is done
	feeders []func() error // stopped first when the source closes

	feeding  atomic.Int64 // feeder offers under way
	lastFeed atomic.Int64 // when the last feeder offer ended, in UnixNano
}

// feederQuiet is how long no feeder offer may have run before a stopped
// feeder counts as drained: its handler takes the requests it still
// holds back to back, so a pause this long means none is left.
const feederQuiet = 50 * time.Millisecond

var (
	_ streams.Source = (*CoreSource)(nil)
	_ Readiness      = (*CoreSource)(nil)
)

// NewCoreSource subscribes, waits until the server has the subscription,
// and starts emitting.
func NewCoreSource(ctx context.Context, nc *nats.Conn, cfg CoreSourceConfig) (*CoreSource, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &CoreSource{nc: nc, subject: cfg.Subject, replies: cfg.Replies, out: make(chan any)}
	sub, err := nc.QueueSubscribe(cfg.Subject, cfg.Queue, s.handle)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %q: %w", cfg.Subject, err)
	}
	if err := sub.SetPendingLimits(pendingLimits(cfg.PendingMsgs, cfg.PendingBytes)); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("set pending limits: %w", err)
	}
	// Once the server has the subscription, a batch published from now on
	// reaches this replica: a caller told "running" can rely on it.
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe to %q: %w", cfg.Subject, err)
	}
	s.sub = sub
	closedCh := sub.StatusChanged(nats.SubscriptionClosed)
	go func() {
		select {
		case <-ctx.Done():
			s.draining.Store(true)
			s.stopFeeders()
			_ = sub.Drain()
			for range closedCh { // closed when the drain (or the connection) ends
			}
			s.awaitFeeders()
		case <-closedCh:
			for range closedCh {
			}
		}
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.offers.Wait()
		close(s.out)
	}()
	return s, nil
}

// attach adds a feeder's stop, called first when the source closes. It
// fails once the source is closing.
func (s *CoreSource) attach(stop func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.draining.Load() {
		return fmt.Errorf("%w: the source is closing", ErrNotReady)
	}
	s.feeders = append(s.feeders, stop)
	return nil
}

// stopFeeders stops every feeder, then flushes so that the server has
// their unsubscriptions before the source's own subscription drains.
func (s *CoreSource) stopFeeders() {
	s.mu.Lock()
	feeders := s.feeders
	s.feeders = nil
	s.mu.Unlock()
	for _, stop := range feeders {
		_ = stop()
	}
	if len(feeders) > 0 {
		_ = s.nc.FlushTimeout(time.Second)
	}
}

func (s *CoreSource) handle(m *nats.Msg) {
	in := inbound(m.Data, m.Header, m.Reply, s.replies, s.subject)
	in.Subject = m.Subject
	in.Received = time.Now()
	// Never refused: the subscription's own messages are all delivered
	// before its drain ends, and the source closes only after that.
	s.offer(in)
}

// awaitFeeders returns once no feeder offer is under way and none has
// ended for feederQuiet: the stopped feeders have handed over what they
// took. A feeder request that comes later still is refused, and answered
// by its feeder.
func (s *CoreSource) awaitFeeders() {
	if s.lastFeed.Load() == 0 && s.feeding.Load() == 0 {
		return // nothing was ever fed
	}
	for s.feeding.Load() > 0 || time.Since(time.Unix(0, s.lastFeed.Load())) < feederQuiet {
		time.Sleep(feederQuiet / 5)
	}
}

// feed is offer for a feeder (the micro endpoint).
func (s *CoreSource) feed(in *stages.Inbound) bool {
	s.feeding.Add(1)
	defer func() {
		s.lastFeed.Store(time.Now().UnixNano())
		s.feeding.Add(-1)
	}()
	return s.offer(in)
}

// offer emits in, blocking while the pipeline is busy, and reports
// whether it did: once the source has closed, in is refused at once.
func (s *CoreSource) offer(in *stages.Inbound) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.offers.Add(1)
	s.mu.Unlock()
	defer s.offers.Done()
	s.out <- in // the pipeline reads Out until it is closed, and the close waits for this
	return true
}

func (s *CoreSource) input() string { return s.subject }

// Out returns the output channel, closed by the source.
func (s *CoreSource) Out() <-chan any { return s.out }

// Via streams the output to next, closing next's input after the last
// element (go-streams' flow.DoStream), and returns next.
func (s *CoreSource) Via(next streams.Flow) streams.Flow {
	flow.DoStream(s, next)
	return next
}

// Pending reports the messages and bytes buffered by the client.
func (s *CoreSource) Pending() (msgs, bytes int, err error) { return s.sub.Pending() }

// Ready returns nil while the connection is up and the subscription is
// taking batches.
func (s *CoreSource) Ready() error {
	if err := connReady(s.nc); err != nil {
		return err
	}
	if s.draining.Load() || !s.sub.IsValid() {
		return fmt.Errorf("%w: the subscription is draining or closed", ErrNotReady)
	}
	return nil
}
