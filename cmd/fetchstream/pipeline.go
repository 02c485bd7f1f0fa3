package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/reugn/go-streams"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages"
)

// resultHeadroom is the part of the NATS max payload kept free for
// headers when a result is sized to fit in one message.
const resultHeadroom = 4 << 10

// pipeline is a running source → decode → fetch → encode → sink chain.
// done is closed once the source has closed and every element has been
// published (and, in JetStream mode, settled).
type pipeline struct {
	done      chan struct{}
	source    connectors.Readiness
	core      *connectors.CoreSource      // nil in JetStream mode
	jetStream *connectors.JetStreamSource // nil in core mode
}

// Ready returns nil while the service is connected to NATS and taking
// batches, and otherwise an error (wrapping connectors.ErrNotReady) that
// says why. It is what a readiness probe should ask.
func (p *pipeline) Ready() error { return p.source.Ready() }

// ready is Ready, and also not ready once running is canceled (shutting
// down) or the pipeline has stopped: what /readyz reports.
func (p *pipeline) ready(running context.Context) error {
	select {
	case <-p.done:
		return fmt.Errorf("%w: the pipeline has stopped", connectors.ErrNotReady)
	default:
	}
	if running.Err() != nil {
		return fmt.Errorf("%w: shutting down", connectors.ErrNotReady)
	}
	return p.Ready()
}

func (p *pipeline) mode() string {
	if p.jetStream != nil {
		return "jetstream"
	}
	return "core"
}

// from says where batches come from.
func (p *pipeline) from(cfg *runConfig) string {
	if p.jetStream != nil {
		return "stream " + cfg.durability.stream + ", durable consumer " + cfg.durability.durable
	}
	return "queue group " + cfg.queue
}

// handedBack counts the batches nak'ed for redelivery so far (JetStream).
func (p *pipeline) handedBack() int64 {
	if p.jetStream == nil {
		return 0
	}
	return p.jetStream.Stats().Nakked
}

// startPipeline builds the stages (validating all before subscribing) and
// runs them. sourceCtx stops the intake (the subscription drains);
// fetchCtx cancels requests in flight and ends the holding of publishes
// while NATS is unreachable.
func startPipeline(sourceCtx, fetchCtx context.Context, nc *nats.Conn, fetcher stages.URLFetcher,
	cfg *runConfig, log *slog.Logger, m *metrics) (*pipeline, error) {
	// Each stage built so far is stopped by closing its input, should a
	// later one fail before the chain is connected.
	var built []streams.Inlet
	fail := func(err error) (*pipeline, error) {
		for _, stage := range built {
			close(stage.In())
		}
		return nil, err
	}
	decode, err := stages.NewDecode(stages.DecodeConfig{
		MaxBatch: cfg.maxBatch, DefaultTimeout: cfg.timeout, MaxTimeout: cfg.maxTimeout})
	if err != nil {
		return fail(err)
	}
	built = append(built, decode)
	fetch, err := stages.NewFetch(fetchCtx, fetcher, stages.FetchConfig{
		Concurrency: cfg.concurrency, Window: cfg.window, MaxActive: cfg.maxActive, PerHost: cfg.perHost, Observer: m})
	if err != nil {
		return fail(err)
	}
	built = append(built, fetch)
	encode, err := stages.NewEncode(int(nc.MaxPayload()) - resultHeadroom)
	if err != nil {
		return fail(err)
	}
	built = append(built, encode)
	sinkCfg, err := publisherConfig(sourceCtx, nc, cfg, log)
	if err != nil {
		return fail(err)
	}
	sinkCfg.Observer = m
	sink, err := connectors.NewPublisher(fetchCtx, nc, sinkCfg)
	if err != nil {
		return fail(err)
	}
	built = append(built, sink)
	p := &pipeline{done: make(chan struct{})}
	var source streams.Source
	if cfg.durability.jetStream {
		p.jetStream, err = jetStreamSource(sourceCtx, nc, cfg, log)
		source = p.jetStream
		p.source = p.jetStream
	} else {
		p.core, err = connectors.NewCoreSource(sourceCtx, nc, connectors.CoreSourceConfig{
			Subject: cfg.subjects.in, Queue: cfg.queue,
			PendingMsgs: cfg.durability.pendingBatches, PendingBytes: int(cfg.durability.pendingBytes)})
		source = p.core
		p.source = p.core
	}
	if err != nil {
		return fail(err)
	}
	if p.jetStream != nil {
		m.watchJetStream(p.jetStream.Stats)
	}
	if p.core != nil {
		m.watchPending(p.core.Pending)
		p.registerMicro(sourceCtx, nc, cfg, log, m)
	}
	go func() {
		defer close(p.done)
		source.Via(decode).Via(fetch).Via(encode).To(sink)
	}()
	return p, nil
}

// registerMicro makes the service discoverable as the NATS micro service
// fetchstream, with a request-reply fetch endpoint feeding the core
// source; it is stopped when the intake stops. Core mode only: in
// JetStream mode batches must come through the stream.
func (p *pipeline) registerMicro(sourceCtx context.Context, nc *nats.Conn, cfg *runConfig, log *slog.Logger, m *metrics) {
	svc, err := connectors.RegisterMicro(nc, p.core, connectors.MicroConfig{
		Name: "fetchstream", Version: version, Subject: cfg.microSubject, Queue: cfg.queue,
		Description: "fetches batches of URLs with bounded parallelism; results in batch order",
		Metadata: map[string]string{"in": cfg.subjects.in, "out": cfg.subjects.out, "batches": cfg.subjects.batches,
			"concurrency": strconv.Itoa(cfg.concurrency)},
		Stats: m.microStats,
	})
	if err != nil {
		log.Warn("not registered as a NATS micro service", "err", err)
		return
	}
	go func() {
		<-sourceCtx.Done()
		_ = svc.Stop()
	}()
}

// publisherConfig: in JetStream mode results carry Nats-Msg-Id, and a
// batch is acked only once the streams its outputs land in (if any) have
// acked them.
func publisherConfig(ctx context.Context, nc *nats.Conn, cfg *runConfig, log *slog.Logger) (connectors.PublisherConfig, error) {
	pc := connectors.PublisherConfig{Results: cfg.subjects.out, Batches: cfg.subjects.batches, Logger: log, Linger: cfg.linger}
	if !cfg.durability.jetStream {
		return pc, nil
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return pc, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if pc.ResultsStream, err = connectors.StreamOf(ctx, js, pc.Results); err != nil {
		return pc, err
	}
	if pc.BatchesStream, err = connectors.StreamOf(ctx, js, pc.Batches); err != nil {
		return pc, err
	}
	pc.MsgIDs = true
	log.Info("output subjects", "results", pc.Results, "results_stream", pc.ResultsStream,
		"batches", pc.Batches, "batches_stream", pc.BatchesStream)
	return pc, nil
}

func jetStreamSource(ctx context.Context, nc *nats.Conn, cfg *runConfig, log *slog.Logger) (*connectors.JetStreamSource, error) {
	setupCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	dead, err := connectors.NewDeadLetter(setupCtx, nc, cfg.durability.deadLetter)
	if err != nil {
		return nil, fmt.Errorf("dead-letter subject: %w", err)
	}
	return connectors.NewJetStreamSource(ctx, nc, connectors.JetStreamSourceConfig{
		ConsumerSetup: cfg.durability.consumerSetup(cfg.subjects.in),
		MaxPending:    pullCredit(cfg.maxActive),
		DeadLetter:    dead,
		Logger:        log,
	})
}
