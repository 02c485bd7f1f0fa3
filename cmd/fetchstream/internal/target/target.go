// Package target serves go-httpbin, the local HTTP target of fetchstream
// target and the demo: /delay/N, /status/CODE, /get, /redirect/N, /drip
// and the rest, to try fetchstream without the internet.
package target

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// Handler is httpbin, serving delays up to maxDelay.
func Handler(maxDelay time.Duration) http.Handler {
	return httpbin.New(httpbin.WithMaxDuration(maxDelay)).Handler()
}

// shutdownWait bounds how long Serve waits for requests in flight once
// ctx is canceled.
const shutdownWait = 5 * time.Second

// Serve serves h on ln until ctx is canceled, then shuts down, waiting up
// to 5s for requests in flight, and returns nil; it returns the error
// that stops serving before that. Serve closes ln.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownWait)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
