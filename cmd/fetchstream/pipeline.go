package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages"
)

// resultHeadroom is the part of the NATS max payload kept free for
// headers when a result is sized to fit in one message.
const resultHeadroom = 4 << 10

// pipeline is a running source → decode → fetch → encode → sink chain.
// done is closed once the source has closed and every element has been
// published.
type pipeline struct {
	done chan struct{}
}

// ready says why the service is not ready to take batches, or nil: it is
// connected to NATS, its pipeline runs, and it is not shutting down.
func (p *pipeline) ready(running context.Context, nc *nats.Conn) error {
	select {
	case <-p.done:
		return errors.New("the pipeline has stopped")
	default:
	}
	if running.Err() != nil {
		return errors.New("shutting down")
	}
	if !nc.IsConnected() {
		return fmt.Errorf("NATS connection is %s", nc.Status())
	}
	return nil
}

// startPipeline builds the stages (validating all before subscribing) and
// runs them. sourceCtx stops the intake (the subscription drains);
// fetchCtx cancels requests in flight.
func startPipeline(sourceCtx, fetchCtx context.Context, nc *nats.Conn, fetcher stages.URLFetcher,
	cfg *runConfig, log *slog.Logger, m *metrics) (*pipeline, error) {
	decode, err := stages.NewDecode(stages.DecodeConfig{
		MaxBatch: cfg.maxBatch, DefaultTimeout: cfg.timeout, MaxTimeout: cfg.maxTimeout})
	if err != nil {
		return nil, err
	}
	fetch, err := stages.NewFetch(fetchCtx, fetcher, stages.FetchConfig{
		Concurrency: cfg.concurrency, Window: cfg.window, MaxActive: cfg.maxActive, PerHost: cfg.perHost, Observer: m})
	if err != nil {
		close(decode.In())
		return nil, err
	}
	encode, err := stages.NewEncode(int(nc.MaxPayload()) - resultHeadroom)
	if err != nil {
		close(decode.In())
		close(fetch.In())
		return nil, err
	}
	if base64Size := int64(cfg.maxBody)/3*4 + resultHeadroom; base64Size > nc.MaxPayload()-resultHeadroom {
		log.Warn("--max-body is too large for the server's max payload: bodies near the cap will be dropped from results (body_truncated)",
			"max_body", int64(cfg.maxBody), "max_payload", nc.MaxPayload())
	}
	sink, err := connectors.NewPublisher(nc, connectors.PublisherConfig{
		Results: cfg.subjects.out, Batches: cfg.subjects.batches, Logger: log, Observer: m})
	if err != nil {
		close(decode.In())
		close(fetch.In())
		close(encode.In())
		return nil, err
	}
	source, err := connectors.NewCoreSource(sourceCtx, nc, connectors.CoreSourceConfig{
		Subject: cfg.subjects.in, Queue: cfg.queue})
	if err != nil {
		close(decode.In())
		decode.Via(fetch).Via(encode).To(sink)
		return nil, err
	}
	m.watchPending(source.Pending)
	svc, err := connectors.RegisterMicro(nc, source, connectors.MicroConfig{
		Name: "fetchstream", Version: version, Subject: cfg.microSubject, Queue: cfg.queue,
		Description: "fetches batches of URLs with bounded parallelism; results in batch order",
		Metadata: map[string]string{"in": cfg.subjects.in, "out": cfg.subjects.out, "batches": cfg.subjects.batches,
			"concurrency": strconv.Itoa(cfg.concurrency)},
		Stats: m.microStats,
	})
	if err != nil {
		log.Warn("not registered as a NATS micro service", "err", err)
	} else {
		go func() {
			<-sourceCtx.Done()
			_ = svc.Stop()
		}()
	}
	p := &pipeline{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		source.Via(decode).Via(fetch).Via(encode).To(sink)
	}()
	return p, nil
}
