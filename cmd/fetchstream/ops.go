package main

import (
	"context"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveOps serves /metrics, /healthz and /readyz on addr until ctx ends.
// /healthz answers 200 while the process runs; /readyz answers 200 while
// ready() returns nil (connected to NATS and consuming), else 503 with
// the reason. With withPprof it also serves the runtime's profiles under
// /debug/pprof/ (see servePprof).
func serveOps(ctx context.Context, addr string, withPprof bool, m *metrics, ready func() error) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if withPprof {
		servePprof(mux)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	return ln.Addr(), nil
}

// servePprof adds net/http/pprof's handlers to mux: the index, every
// runtime profile by name (/debug/pprof/heap, /goroutine, /allocs, ...),
// /profile (CPU, ?seconds=N), /trace and /symbol. /cmdline is left out:
// the command line may hold a NATS password or token. Importing
// net/http/pprof also registers all of them, /cmdline included, on
// http.DefaultServeMux: no server here may ever serve that mux.
func servePprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/debug/pprof/cmdline" {
			http.NotFound(w, r)
			return
		}
		pprof.Index(w, r)
	})
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
}
