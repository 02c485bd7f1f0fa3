package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
)

// startService runs the fetchstream service (core mode, default subjects)
// through its package, on natsURL, with loopback targets allowed, 8
// requests in flight and batches of at most 100 URLs (TestEndToEnd relies
// on that). It returns once the service consumes; stop ends it and waits
// until it has published what it took.
func startService(natsURL string, change ...func(*service.Config)) (stop func(), err error) {
	cfg := service.Defaults()
	cfg.NATS.URL = natsURL
	cfg.Fetch.AllowNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cfg.Fetch.Concurrency, cfg.Fetch.MaxBatch = 8, 100
	for _, f := range change {
		f(&cfg)
	}
	svc, err := service.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan error, 1)
	go func() { exited <- svc.Run(ctx) }()
	select {
	case <-svc.Running():
	case err := <-exited:
		cancel()
		return nil, err
	case <-time.After(10 * time.Second):
		cancel()
		return nil, errors.New("the service did not start within 10s")
	}
	return func() {
		cancel()
		<-exited
	}, nil
}

// startTarget serves /delay/{seconds} (cut short when the client goes),
// /status/{code}, /text, /json and /echo (any method: the method, the
// Accept header and the body, as JSON) on loopback. stop closes it.
func startTarget() (url string, stop func()) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /delay/{s}", func(w http.ResponseWriter, r *http.Request) {
		seconds, _ := strconv.Atoi(r.PathValue("s"))
		select {
		case <-time.After(time.Duration(seconds) * time.Second):
			fmt.Fprintln(w, "late")
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("GET /status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
	})
	mux.HandleFunc("GET /text", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "hello")
	})
	mux.HandleFunc("GET /big/{kb}", func(w http.ResponseWriter, r *http.Request) {
		kb, _ := strconv.Atoi(r.PathValue("kb"))
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, strings.Repeat("x", kb<<10))
	})
	mux.HandleFunc("GET /json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		echo, _ := json.Marshal(map[string]string{"method": r.Method, "accept": r.Header.Get("Accept"), "body": string(body)})
		_, _ = w.Write(echo)
	})
	srv := httptest.NewServer(mux)
	return srv.URL, srv.Close
}
