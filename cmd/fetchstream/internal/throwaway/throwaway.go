// Package throwaway starts the servers a command needs only while it
// runs: an embedded NATS server (demo, bench), and go-httpbin, the local
// HTTP target of fetchstream target, the demo and the chaos harness
// (/delay/N, /status/CODE, /get, /redirect/N, /drip and the rest), to try
// fetchstream without the internet.
package throwaway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"

	"github.com/fetchstream/fetchstream/connectors/embedded"
)

// NATS starts an embedded server on a free loopback port, with JetStream
// in a new temporary directory named after name. stop shuts it down and
// removes the directory.
func NATS(name string) (url string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "fetchstream-"+name+"-")
	if err != nil {
		return "", nil, err
	}
	ns, err := embedded.Start(embedded.Config{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return ns.ClientURL(), func() {
		ns.Shutdown()
		os.RemoveAll(dir)
	}, nil
}

// Target is httpbin, serving delays up to maxDelay.
func Target(maxDelay time.Duration) http.Handler {
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
