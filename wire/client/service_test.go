package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/reugn/go-streams"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
)

// startService runs the real fetchstream pipeline (core mode) on its own
// connection to natsURL, wired from stages and connectors as the service
// wires them, with loopback targets allowed and the micro registration
// that Ping looks for. stop ends it and waits until it has published
// what it took.
//
// When the service package lands, this body becomes its Config, New and
// Run (with the same subjects, loopback allowed, a small concurrency);
// TestEndToEnd and Example use nothing else from here.
func startService(natsURL string) (stop func(), err error) {
	nc, err := nats.Connect(natsURL, nats.Name("fetchstream test service"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	fail := func(err error) (func(), error) {
		cancel()
		nc.Close()
		return nil, err
	}
	fetcher, err := stages.NewFetcher(stages.FetcherConfig{Concurrency: 8, MaxBody: 64 << 10, MaxRedirects: 5,
		Policy: stages.Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	if err != nil {
		return fail(err)
	}
	decode, err := stages.NewDecode(stages.DecodeConfig{MaxBatch: 100, DefaultTimeout: 5 * time.Second, MaxTimeout: time.Minute})
	if err != nil {
		return fail(err)
	}
	fetch, err := stages.NewFetch(ctx, fetcher, stages.FetchConfig{Concurrency: 8, Window: 64, MaxActive: 8})
	if err != nil {
		return fail(err)
	}
	encode, err := stages.NewEncode(int(nc.MaxPayload()) - 4<<10)
	if err != nil {
		return fail(err)
	}
	sink, err := connectors.NewPublisher(ctx, nc, connectors.PublisherConfig{
		Results: wire.DefaultResultsSubject, Batches: wire.DefaultBatchesSubject, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fail(err)
	}
	source, err := connectors.NewCoreSource(ctx, nc, connectors.CoreSourceConfig{Subject: wire.DefaultInSubject, Queue: "fetchstream"})
	if err != nil {
		return fail(err)
	}
	svc, err := connectors.RegisterMicro(nc, source, connectors.MicroConfig{Name: "fetchstream", Version: "0.1.0",
		Subject: "fetchstream.fetch", Queue: "fetchstream", Metadata: map[string]string{"in": wire.DefaultInSubject}})
	if err != nil {
		return fail(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var flow streams.Flow = source.Via(decode).Via(fetch).Via(encode)
		flow.To(sink)
	}()
	return func() {
		_ = svc.Stop()
		cancel()
		<-done
		fetcher.Close()
		nc.Close()
	}, nil
}

// startTarget serves /delay/{seconds} (cut short when the client goes),
// /status/{code}, /text and /json on loopback. stop closes it.
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
	mux.HandleFunc("GET /json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	})
	srv := httptest.NewServer(mux)
	return srv.URL, srv.Close
}

// startNATS starts an embedded NATS server (no JetStream) outside a test,
// for the Example.
func startNATS() (url string, stop func(), err error) {
	ns, err := connectors.StartEmbedded(connectors.EmbeddedConfig{Host: "127.0.0.1", Port: -1})
	if err != nil {
		return "", nil, err
	}
	return ns.ClientURL(), func() { ns.Shutdown(); ns.WaitForShutdown() }, nil
}
