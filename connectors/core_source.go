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
	// this client and a slow-consumer error is reported. Zero: nats.go's
	// defaults.
	PendingMsgs  int
	PendingBytes int
}

// CoreSource is a go-streams Source of *stages.Inbound from a core NATS
// queue subscription (at-most-once: a message in a process that dies is
// lost). It emits messages in the order the subscription delivers them,
// blocking the delivery while the pipeline is busy. When ctx is canceled
// it drains the subscription: it stops taking new messages, emits those
// already delivered, then closes Out. CoreSource closes Out; the caller
// must not.
type CoreSource struct {
	nc       *nats.Conn
	sub      *nats.Subscription
	out      chan any
	draining atomic.Bool

	mu     sync.RWMutex
	closed bool
}

var (
	_ streams.Source = (*CoreSource)(nil)
	_ Readiness      = (*CoreSource)(nil)
)

// NewCoreSource subscribes, waits until the server has the subscription,
// and starts emitting.
func NewCoreSource(ctx context.Context, nc *nats.Conn, cfg CoreSourceConfig) (*CoreSource, error) {
	if cfg.Subject == "" {
		return nil, fmt.Errorf("%w: empty input subject", ErrConfig)
	}
	s := &CoreSource{nc: nc, out: make(chan any)}
	sub, err := nc.QueueSubscribe(cfg.Subject, cfg.Queue, s.handle)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %q: %w", cfg.Subject, err)
	}
	if cfg.PendingMsgs != 0 || cfg.PendingBytes != 0 {
		msgs, bytes := cfg.PendingMsgs, cfg.PendingBytes
		if msgs == 0 {
			msgs = nats.DefaultSubPendingMsgsLimit
		}
		if bytes == 0 {
			bytes = nats.DefaultSubPendingBytesLimit
		}
		if err := sub.SetPendingLimits(msgs, bytes); err != nil {
			_ = sub.Unsubscribe()
			return nil, fmt.Errorf("set pending limits: %w", err)
		}
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
			_ = sub.Drain()
			for range closedCh { // closed when the drain (or the connection) ends
			}
		case <-closedCh:
			for range closedCh {
			}
		}
		s.mu.Lock()
		s.closed = true
		close(s.out)
		s.mu.Unlock()
	}()
	return s, nil
}

func (s *CoreSource) handle(m *nats.Msg) {
	in := inbound(m.Data, m.Header, m.Reply)
	in.Received = time.Now()
	s.offer(in)
}

// offer emits in, blocking while the pipeline is busy; once the source has
// closed, in is dropped and offer returns false.
func (s *CoreSource) offer(in *stages.Inbound) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.closed {
		s.out <- in
		return true
	}
	return false
}

// Out returns the output channel, closed by the source.
func (s *CoreSource) Out() <-chan any { return s.out }

// Via streams the output to next and returns next.
func (s *CoreSource) Via(next streams.Flow) streams.Flow {
	go func() {
		for element := range s.out {
			next.In() <- element
		}
		close(next.In())
	}()
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
