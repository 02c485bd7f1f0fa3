package service

import (
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// opsServer is the HTTP server of /metrics, /healthz and /readyz.
// /healthz answers 200 while the process runs; /readyz answers 200 while
// ready returns nil (connected to NATS and consuming), else 503 with the
// reason. With withPprof it also serves the runtime's profiles under
// /debug/pprof/ (see servePprof). Run serves it and shuts it down.
func opsServer(withPprof bool, m *metrics, ready func() error) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil { // it says "not ready: ..." itself
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if withPprof {
		servePprof(mux)
	}
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
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
