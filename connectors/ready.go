package connectors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrNotReady is wrapped by the errors of Ready methods.
var ErrNotReady = errors.New("not ready")

// Readiness is what a health endpoint asks a source: Ready returns nil
// while the source is connected and taking batches, and otherwise an error
// wrapping ErrNotReady that says why (disconnected, draining, the consumer
// is gone). It is cheap and safe to call from any goroutine.
type Readiness interface {
	Ready() error
}

// connReady is the connection's part of readiness.
func connReady(nc *nats.Conn) error {
	if !nc.IsConnected() {
		return fmt.Errorf("%w: NATS connection is %s", ErrNotReady, nc.Status())
	}
	return nil
}

// waitConnected returns once nc is connected, polling every step, or with
// an error once ctx ends or the connection is closed for good. It is how
// publishes are held while the client reconnects.
func waitConnected(ctx context.Context, nc *nats.Conn, step time.Duration) error {
	t := time.NewTicker(step)
	defer t.Stop()
	for !nc.IsConnected() {
		if nc.IsClosed() {
			return nats.ErrConnectionClosed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
