package service

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/reugn/go-streams"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/wire"
)

// resultHeadroom is the part of the NATS max payload kept free for
// headers when a result is sized to fit in one message: the most the
// publisher's headers take (Nats-Msg-Id, trace context).
const resultHeadroom = connectors.ResultHeaderBytes

// pipeline is a running source → decode → fetch → sink chain; the sink
// (the publisher) encodes each result before it publishes it.
// done is closed once the source has closed and every element has been
// published (and, in JetStream mode, settled).
type pipeline struct {
	done      chan struct{}
	intake    context.Context // its end stops the source: the service is shutting down
	source    connectors.Readiness
	core      *connectors.CoreSource      // nil in JetStream mode
	jetStream *connectors.JetStreamSource // nil in core mode
}

func (p *pipeline) mode() string {
	if p.jetStream != nil {
		return "jetstream"
	}
	return "core"
}

// from says where batches come from.
func (p *pipeline) from(cfg *Config) string {
	if p.jetStream != nil {
		return "stream " + cfg.JetStream.Stream + ", durable consumer " + cfg.JetStream.Durable
	}
	return "queue group " + cfg.Core.Queue
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
// while NATS is unreachable; setUpBy is when its JetStream set-up (which
// streams capture the outputs, the dead-letter subject, the input stream
// and consumer) stops waiting out elections and fails.
func startPipeline(sourceCtx, fetchCtx context.Context, setUpBy time.Time, nc *nats.Conn, fetcher engine.URLFetcher,
	cfg *Config, log *slog.Logger, m *metrics) (*pipeline, error) {
	// Each stage built so far is stopped by closing its input, should a
	// later one fail before the chain is connected.
	var built []streams.Inlet
	fail := func(err error) (*pipeline, error) {
		for _, stage := range built {
			close(stage.In())
		}
		return nil, err
	}
	decodeCfg := cfg.Fetch.decodeConfig()
	if cfg.Tracing != nil {
		decodeCfg.Tracer = cfg.Tracing.TracerProvider().Tracer(stages.TracerName)
	}
	decode, err := stages.NewDecode(decodeCfg)
	if err != nil {
		return fail(err)
	}
	built = append(built, decode)
	fetchCfg := cfg.Fetch.stageConfig(m)
	fetchCfg.OnPanic = m.onPanic(log)
	var lender atomic.Pointer[connectors.JetStreamSource] // set below, in JetStream mode, before any batch comes
	fetchCfg.OnWaiting = func(n int) {
		if src := lender.Load(); src != nil {
			src.SetWaiting(n) // batches that only wait do not hold the pull credit
		}
	}
	replies := &gatheredReplies{}
	fetchCfg.HeldElsewhere = replies.held
	if f := startFleet(fetchCtx, setUpBy, nc, cfg, log); f != nil {
		fetchCfg.Fleet = f
		m.hosts.fleet.Store(f)
	}
	fetch, err := engine.NewFetch(fetchCtx, fetcher, fetchCfg)
	if err != nil {
		return fail(err)
	}
	built = append(built, fetch)
	// The publisher encodes each result on its own goroutine: one hop
	// between goroutines fewer per result than an encode Flow between them.
	encoder, err := stages.NewEncoder(stages.EncodeConfig{MaxBytes: int(nc.MaxPayload()) - resultHeadroom, OnPanic: m.onPanic(log)})
	if err != nil {
		return fail(err)
	}
	setupCtx, cancelSetup := context.WithDeadline(sourceCtx, setUpBy)
	defer cancelSetup()
	sinkCfg, err := publisherConfig(setupCtx, nc, cfg, log)
	if err != nil {
		return fail(err)
	}
	sinkCfg.Observer, sinkCfg.OnPanic, sinkCfg.Encode = m, m.onPanic(log), encoder.Encode
	sink, err := connectors.NewPublisher(fetchCtx, nc, sinkCfg)
	if err != nil {
		return fail(err)
	}
	built = append(built, sink)
	replies.publisher.Store(sink)
	p := &pipeline{done: make(chan struct{}), intake: sourceCtx}
	var source streams.Source
	if cfg.JetStream.Enabled {
		p.jetStream, err = jetStreamSource(sourceCtx, setupCtx, nc, cfg, log)
		lender.Store(p.jetStream)
		source = p.jetStream
		p.source = p.jetStream
	} else {
		warnStreamOverCoreInput(sourceCtx, nc, cfg.Subjects.In, cfg.NATS.URL == "", log)
		core := cfg.coreSourceConfig()
		core.Replies = replyPolicy(cfg)
		p.core, err = connectors.NewCoreSource(sourceCtx, nc, core)
		source = p.core
		p.source = p.core
	}
	if err != nil {
		return fail(err)
	}
	if p.jetStream != nil {
		m.watchJetStream(p.jetStream.Stats)
		m.watchScheduled(p.jetStream.Stats)
	}
	if p.core != nil {
		m.watchPending(p.core.Pending)
	}
	m.watchHeld(fetch.Held, replies.held)
	go func() {
		defer close(p.done)
		source.Via(decode).Via(fetch).To(sink)
	}()
	return p, nil
}

// registerMicro makes the service discoverable as the NATS micro service
// fetchstream, with a request-reply fetch endpoint feeding the source,
// with the input subject's pending limits. In JetStream mode too, a
// request is a direct request-reply beside the stream: at most once (a
// replica that dies with it loses it; the caller times out). A core
// source stops it as it closes (see connectors.RegisterMicro); stop it
// before a JetStream source closes.
func registerMicro(nc *nats.Conn, source connectors.MicroInlet, cfg *Config, m *metrics) (micro.Service, error) {
	return connectors.RegisterMicro(nc, source, connectors.MicroConfig{
		Name: "fetchstream", Version: Version, Subject: cfg.Subjects.Micro, Queue: cfg.Core.Queue,
		Description: "fetches batches of URLs with bounded parallelism; results in batch order",
		Metadata: map[string]string{"in": cfg.Subjects.In, "out": cfg.Subjects.Out, "batches": cfg.Subjects.Batches,
			"concurrency":    strconv.Itoa(cfg.Fetch.Concurrency),
			"request_format": wire.BatchFormat(), "methods": strings.Join(wire.Methods(), ","),
			"credentials":      strings.Join(cfg.Fetch.Credentials.Names(), ","),
			"max_request_body": strconv.FormatInt(cfg.Fetch.MaxRequestBody, 10)},
		Stats:       m.microStats,
		PendingMsgs: cfg.Core.PendingBatches, PendingBytes: int(cfg.Core.PendingBytes),
		Replies: replyPolicy(cfg),
	})
}

// publisherConfig: in JetStream mode results carry Nats-Msg-Id, and a
// batch is acked only once the streams its outputs land in (if any) have
// acked them. Finding those streams waits out elections until ctx ends.
func publisherConfig(ctx context.Context, nc *nats.Conn, cfg *Config, log *slog.Logger) (connectors.PublisherConfig, error) {
	pc := connectors.PublisherConfig{Results: cfg.Subjects.Out, Batches: cfg.Subjects.Batches, Changes: cfg.Subjects.Changes,
		Logger: log, Linger: cfg.PublishLinger}
	if !cfg.JetStream.Enabled {
		return pc, nil
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return pc, err
	}
	if pc.ResultsStream, err = connectors.StreamOf(ctx, js, pc.Results, log); err != nil {
		return pc, err
	}
	if pc.BatchesStream, err = connectors.StreamOf(ctx, js, pc.Batches, log); err != nil {
		return pc, err
	}
	if pc.Changes != "" {
		if pc.ChangesStream, err = connectors.StreamOf(ctx, js, pc.Changes, log); err != nil {
			return pc, err
		}
	}
	pc.MsgIDs = true
	pc.RetryFor = cfg.JetStream.OutputRetryFor
	log.Info("output subjects", "results", pc.Results, "results_stream", pc.ResultsStream,
		"batches", pc.Batches, "batches_stream", pc.BatchesStream, "changes", pc.Changes, "changes_stream", pc.ChangesStream)
	return pc, nil
}

// jetStreamSource finds the dead-letter subject's stream, then the input
// stream and consumer (or creates them), waiting out elections until
// setupCtx ends; the source then runs until ctx ends.
func jetStreamSource(ctx, setupCtx context.Context, nc *nats.Conn, cfg *Config, log *slog.Logger) (*connectors.JetStreamSource, error) {
	dead, err := connectors.NewDeadLetter(setupCtx, nc, cfg.JetStream.DeadLetter)
	if err != nil {
		return nil, fmt.Errorf("dead-letter subject: %w", err)
	}
	setup := cfg.JetStream.consumerSetup(cfg.Subjects.In, cfg.Storage.Replicas, cfg.NATS.URL == "")
	deadline, _ := setupCtx.Deadline()
	if setup.SetupTimeout = time.Until(deadline); setup.SetupTimeout <= 0 {
		return nil, fmt.Errorf("JetStream stream %q: %w", setup.Stream, context.DeadlineExceeded)
	}
	return connectors.NewJetStreamSource(ctx, nc, connectors.JetStreamSourceConfig{
		ConsumerSetup: setup,
		MaxPending:    pullCredit(cfg.Fetch.MaxActive),
		MaxWaiting:    cfg.Fetch.MaxWaiting,
		DeadLetter:    dead,
		Logger:        log,
		Replies:       replyPolicy(cfg),
	})
}

// warnStreamOverCoreInput says, in core mode, when a JetStream stream
// captures the input subject (one left by an earlier --jetstream run on
// the same store, say). Batches published there still reach the core
// subscription, but the stream keeps each of them with nothing to read
// it (a later --jetstream run fetches them all), and a request gets the
// stream's ack as its reply, not the results. The warning says how to be
// rid of the stream: the nats CLI, or, with the embedded server
// (embedded), another --data-dir. A server without JetStream, or a lookup
// that fails, says nothing.
func warnStreamOverCoreInput(ctx context.Context, nc *nats.Conn, in string, embedded bool, log *slog.Logger) {
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	stream, err := connectors.StreamOf(ctx, js, in, nil)
	if err != nil || stream == "" {
		return
	}
	without := ""
	if embedded {
		without = ", or, without the nats CLI, start with another --data-dir (the embedded server's store, where the stream lives)"
	}
	log.Warn("a JetStream stream captures the input subject, and this service runs in core mode: "+
		"the stream keeps every batch with nothing to read it, and a later `fetchstream run --jetstream` will fetch every batch it stores; "+
		"a request's reply is the stream's ack, not the results (`fetchstream publish --wait` gets them); run with --jetstream to consume it, or delete the stream: nats stream rm -f "+stream+without,
		"subject", in, "stream", stream)
}

// replyPolicy is where cfg lets replies go: Subjects.Replies, never a
// subject the service reads or publishes (input, micro endpoint,
// results, summaries, dead letters). Refusals name --reply-subjects.
func replyPolicy(cfg *Config) *connectors.ReplyPolicy {
	served := []string{cfg.Subjects.In, cfg.Subjects.Micro, cfg.Subjects.Out, cfg.Subjects.Batches}
	if cfg.Subjects.Changes != "" {
		served = append(served, cfg.Subjects.Changes)
	}
	if cfg.JetStream.Enabled {
		served = append(served, cfg.JetStream.DeadLetter)
	}
	return &connectors.ReplyPolicy{Allowed: cfg.Subjects.Replies, Served: served, Setting: "--reply-subjects"}
}
