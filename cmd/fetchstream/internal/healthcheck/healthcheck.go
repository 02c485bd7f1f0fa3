// Package healthcheck is fetchstream health, the container health check
// of an image without a shell or curl: the NATS server answers a round
// trip, or an HTTP endpoint answers below 400. Every failure wraps
// ErrUnhealthy; any other error is a mistake in what was asked.
package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/natsflags"
)

// ErrUnhealthy is wrapped by every failed health check.
var ErrUnhealthy = errors.New("unhealthy")

// NATS connects as the connection flags say (credentials, TLS; the URL
// nats.DefaultURL when empty) and completes a PING/PONG round trip before
// ctx ends (ctx must have a deadline), saying so on stdout. What it
// prints and returns names the server without its password.
func NATS(ctx context.Context, flags *natsflags.Flags, stdout io.Writer) error {
	deadline, _ := ctx.Deadline()
	nc, err := flags.Connect(nats.DefaultURL, "fetchstream health", nats.Timeout(time.Until(deadline)), nats.NoReconnect())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnhealthy, err) // connect's error redacts the URL
	}
	defer nc.Close()
	start := time.Now()
	if err := nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("%w: NATS at %s did not answer a PING: %v", ErrUnhealthy, nc.ConnectedUrlRedacted(), err)
	}
	fmt.Fprintf(stdout, "ok: NATS at %s answered in %s\n", nc.ConnectedUrlRedacted(), time.Since(start).Round(time.Microsecond))
	return nil
}

// HTTP GETs url and wants a status below 400 before ctx ends, saying so
// on stdout; it reads at most 64 KiB of the body.
func HTTP(ctx context.Context, url string, stdout io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("--http %q: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnhealthy, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("%w: GET %s answered %s", ErrUnhealthy, url, resp.Status)
	}
	fmt.Fprintf(stdout, "ok: GET %s answered %s\n", url, resp.Status)
	return nil
}
