// Package service is the fetchstream service: it takes batches of URLs
// from a NATS subject (a core queue group, or a durable JetStream
// consumer), fetches them with bounded parallelism, and publishes each
// batch's results in order, then its summary. `fetchstream run` is this
// package behind flags; a Go program embeds it as it embeds nats-server:
//
//	cfg := service.Defaults()
//	cfg.NATS.URL = nats.DefaultURL
//	svc, err := service.New(cfg, logger)
//	...
//	go func() { errc <- svc.Run(ctx) }()
//	<-svc.Running() // consuming: batches published now are served
//
// Run's lifecycle is one errgroup: the ops HTTP server, the pipeline and
// the NATS micro registration; the first of them to fail ends Run with its
// error, after the same graceful shutdown as a canceled context.
package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
	"github.com/fetchstream/fetchstream/stages/httpfetch/credentials"
)

// Version is fetchstream's release, reported to the NATS micro registry.
const Version = "0.1.0"

// ErrNotReady is wrapped by the errors of Service.Ready.
var ErrNotReady = connectors.ErrNotReady

// ErrRunTwice is returned by a second call of Service.Run.
var ErrRunTwice = errors.New("service: Run called more than once")

// Service is one fetchstream replica. Make it with New and run it once
// with Run; its methods are safe for concurrent use.
type Service struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	started atomic.Bool
	running chan struct{} // closed once consuming
	stopped chan struct{} // closed when Run returns
	pipe    atomic.Pointer[pipeline]
	cut     chan struct{} // closed by CutShort
	cutOnce sync.Once

	credMu      sync.Mutex // orders SetCredentials against Run making the fetcher
	credentials *credentials.Set
	fetcher     *httpfetch.Fetcher

	// Written by Run before running is closed, never after.
	natsURL string
	opsAddr net.Addr
	nc      *nats.Conn
}

// New validates cfg and returns a Service ready to Run. It does no I/O. A
// refused cfg is a *ConfigError naming the field (wrapping ErrConfig).
// log receives the service's logs; nil discards them.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.NATS.Options = slices.Clone(cfg.NATS.Options)
	cfg.Fetch.AllowNets = slices.Clone(cfg.Fetch.AllowNets)
	cfg.Fetch.ResponseHeaders = slices.Clone(cfg.Fetch.ResponseHeaders)
	if err := validate(&cfg); err != nil {
		return nil, err
	}
	m := newMetrics()
	m.watchTracing(cfg.Tracing)
	return &Service{cfg: cfg, log: log, metrics: m, credentials: cfg.Fetch.Credentials,
		running: make(chan struct{}), stopped: make(chan struct{}), cut: make(chan struct{})}, nil
}

// SetCredentials replaces Config.Fetch.Credentials (nil: none), before or
// while the service runs, as a reload of the credentials file does:
// requests resolved from then on use the new set, those under way keep
// theirs. The micro service's metadata keeps the names it registered.
func (s *Service) SetCredentials(set *credentials.Set) {
	s.credMu.Lock()
	defer s.credMu.Unlock()
	s.credentials = set
	if s.fetcher != nil {
		s.fetcher.SetCredentials(set)
	}
}

// Running is closed once the service consumes: subscribed (or its
// JetStream consumer bound) and, in core mode, registered as a NATS micro
// service. It is never closed when Run fails before that.
func (s *Service) Running() <-chan struct{} { return s.running }

// Ready returns nil while the service is connected to NATS and consuming,
// and otherwise an error wrapping ErrNotReady that says why (starting,
// disconnected, shutting down, stopped). It is what /readyz answers.
func (s *Service) Ready() error {
	select {
	case <-s.stopped:
		return fmt.Errorf("%w: stopped", ErrNotReady)
	default:
	}
	select {
	case <-s.running:
	default:
		return fmt.Errorf("%w: starting", ErrNotReady)
	}
	p := s.pipe.Load()
	select {
	case <-p.done:
		return fmt.Errorf("%w: the pipeline has stopped", ErrNotReady)
	default:
	}
	if p.intake.Err() != nil {
		return fmt.Errorf("%w: shutting down", ErrNotReady)
	}
	return p.source.Ready()
}

// NATSURL is the NATS URL the service joined: Config.NATS.URL, or the
// embedded server's client URL when it started one. Valid once Running is
// closed.
func (s *Service) NATSURL() string { return s.natsURL }

// OpsAddr is the address /metrics, /healthz and /readyz are served on (the
// port chosen when Config.Ops.MetricsAddr asked for port 0), or nil when
// they are off. Valid once Running is closed.
func (s *Service) OpsAddr() net.Addr { return s.opsAddr }

// Conn is the service's NATS connection. Valid once Running is closed; it
// is closed when Run returns.
func (s *Service) Conn() *nats.Conn { return s.nc }

// Run connects to NATS (or starts the embedded server), sets up what it
// keeps in JetStream (waiting out elections and a lost node for up to
// Config.StartupTimeout; neither Running nor Ready before its input
// stream and consumer exist), serves the ops
// endpoint and consumes until ctx is canceled or a part of the service
// fails, then shuts down gracefully: it stops taking batches, lets those
// in flight finish within Config.ShutdownGrace, cancels what is left
// (core: those URLs end as canceled results; JetStream: their batches are
// nak'ed for redelivery), publishes everything, closes the ops listener,
// flushes and closes the connection. /readyz answers 503 throughout the
// shutdown. Run returns nil only when ctx ended it and nothing was cut
// short; otherwise the first failure: a start that failed, an ops server
// or micro registration that failed, an input closed for good, a grace
// that ran out. Run may be called once.
func (s *Service) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return ErrRunTwice
	}
	defer close(s.stopped)
	conn, err := connectOrEmbed(ctx, &s.cfg, s.log, s.metrics)
	if err != nil {
		return err
	}
	defer conn.close()
	s.natsURL, s.nc = conn.url, conn.nc
	setUpBy := time.Now().Add(s.cfg.StartupTimeout)
	fetchCfg := s.cfg.Fetch.fetcherConfig()
	validators, err := s.setUpStorage(ctx, setUpBy, conn.nc, &fetchCfg)
	if err != nil {
		return err
	}
	s.credMu.Lock()
	fetchCfg.Credentials = s.credentials
	fetcher, err := httpfetch.New(fetchCfg)
	s.fetcher = fetcher
	s.credMu.Unlock()
	if err != nil {
		return err
	}
	defer fetcher.Close()
	if validators != nil {
		s.metrics.watchValidators(fetcher.ValidatorStats, validators.Stats)
	}

	// intake ends on ctx's end or the first member's failure: the sources
	// stop taking batches. fetchCtx ends only when the grace runs out.
	g, intake := errgroup.WithContext(ctx)
	fetchCtx, cancelFetches := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFetches()
	pipelineDone := make(chan struct{})
	if s.cfg.Ops.MetricsAddr != "" {
		if err := s.serveOps(g, pipelineDone); err != nil {
			return err
		}
	}
	if validators != nil {
		// Its writes go on until the pipeline is done: through the grace.
		g.Go(func() error {
			writing, stop := context.WithCancel(context.WithoutCancel(ctx))
			defer stop()
			go func() { <-pipelineDone; stop() }()
			return validators.Run(writing)
		})
	}
	started := make(chan *pipeline, 1)
	g.Go(func() error {
		defer close(pipelineDone)
		p, err := startPipeline(intake, fetchCtx, setUpBy, conn.nc, fetcher, &s.cfg, s.log, s.metrics)
		if err != nil {
			return err
		}
		s.pipe.Store(p)
		started <- p
		return s.finish(intake, p, cancelFetches)
	})
	g.Go(func() error { return s.consume(intake, conn.nc, started) })
	return g.Wait()
}

// serveOps listens on Config.Ops.MetricsAddr and adds the ops server to
// g: a Serve that fails ends Run; the server is shut down once the
// pipeline is done, so /readyz answers through the shutdown grace.
func (s *Service) serveOps(g *errgroup.Group, pipelineDone <-chan struct{}) error {
	ln, err := net.Listen("tcp", s.cfg.Ops.MetricsAddr)
	if err != nil {
		return fmt.Errorf("ops listener (Ops.MetricsAddr %s): %w", s.cfg.Ops.MetricsAddr, err)
	}
	s.opsAddr = ln.Addr()
	srv := opsServer(s.cfg.Ops.Pprof, s.metrics, s.Ready)
	s.log.Info("serving /metrics, /healthz and /readyz", "addr", ln.Addr().String(), "pprof", s.cfg.Ops.Pprof)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("ops server on %s: %w", ln.Addr(), err)
		}
		return nil
	})
	g.Go(func() error {
		<-pipelineDone
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		return nil
	})
	return nil
}

// consume registers the micro service (in both modes) once the pipeline has
// started, then says the service is running, and stops the micro service
// when the intake ends.
func (s *Service) consume(intake context.Context, nc *nats.Conn, started <-chan *pipeline) error {
	var p *pipeline
	select {
	case p = <-started:
	case <-intake.Done():
		return nil
	}
	var inlet connectors.MicroInlet = p.core
	if p.jetStream != nil {
		inlet = p.jetStream
	}
	svc, err := registerMicro(nc, inlet, &s.cfg, s.metrics)
	if err != nil {
		return err
	}
	defer func() { _ = svc.Stop() }()
	cfg := &s.cfg
	attrs := append([]any{"mode", p.mode(), "in", cfg.Subjects.In, "from", p.from(cfg), "out", cfg.Subjects.Out,
		"batches", cfg.Subjects.Batches, "concurrency", cfg.Fetch.Concurrency, "timeout", cfg.Fetch.Timeout.String()},
		politenessOf(&cfg.Fetch).attrs()...)
	s.log.Info("fetchstream running", attrs...)
	close(s.running)
	<-intake.Done()
	return nil
}

// politeness is the per-host politeness a FetchConfig puts in force,
// with the zeros that stand for a default read as that default.
type politeness struct {
	perHost   int
	rate      float64
	burst     int
	jitter    float64
	key       string
	maxPause  time.Duration
	robots    bool
	robotsTTL time.Duration
}

func politenessOf(f *FetchConfig) politeness {
	return politeness{perHost: f.PerHost, rate: f.PerHostRate, burst: max(f.PerHostBurst, 1), jitter: f.PerHostJitter,
		key: cmp.Or(f.PerHostKey, "host"), maxPause: f.MaxHostPause, robots: f.Robots,
		robotsTTL: cmp.Or(f.RobotsTTL, engine.DefaultRobotsTTL)}
}

// attrs are the log attributes of p when any of it differs from
// Defaults' (none otherwise): the per-host cap (0: none), the rate (0:
// none) with its burst and jitter, what counts as a host, the longest
// pause a 429 or 503 may bring, and robots.txt with how long it is kept.
func (p politeness) attrs() []any {
	d := Defaults()
	if p == politenessOf(&d.Fetch) {
		return nil
	}
	attrs := []any{"per_host", p.perHost, "per_host_rate", p.rate}
	if p.rate > 0 {
		attrs = append(attrs, "per_host_burst", p.burst, "per_host_jitter", p.jitter)
	}
	attrs = append(attrs, "per_host_key", p.key, "max_host_pause", p.maxPause.String(), "robots", p.robots)
	if p.robots {
		attrs = append(attrs, "robots_ttl", p.robotsTTL.String())
	}
	return attrs
}

// CutShort ends the shutdown grace at once, as if it had run out: the
// batches in flight are canceled (core: their remaining URLs published as
// canceled) or handed back for redelivery (JetStream), and Run returns an
// error saying so. Called before the shutdown, it makes the grace zero. It
// is what a second SIGINT or SIGTERM does; safe to call more than once
// and from any goroutine.
func (s *Service) CutShort() { s.cutOnce.Do(func() { close(s.cut) }) }

// finish waits for the intake to end, then for the batches in flight
// within the grace, then cancels the rest and waits for the pipeline.
func (s *Service) finish(intake context.Context, p *pipeline, cancelFetches context.CancelFunc) error {
	select {
	case <-p.done:
		if intake.Err() == nil {
			return errors.New("the input closed (NATS connection lost for good)")
		}
	case <-intake.Done():
	}
	grace := s.cfg.ShutdownGrace
	s.log.Info("shutting down: taking no new batches, finishing those in flight", "grace", grace)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	why := fmt.Sprintf("shutdown grace of %s ran out", grace)
	select {
	case <-p.done:
		s.log.Info("shutdown complete: every batch in flight was finished and published")
		return nil
	case <-timer.C:
	case <-s.cut:
		why = "shutdown cut short"
		s.log.Warn("shutdown cut short: canceling the batches in flight")
	}
	before := p.handedBack()
	cancelFetches()
	<-p.done
	if p.jetStream != nil {
		return fmt.Errorf("%s: unfinished batches left unacked for redelivery: %d", why, p.handedBack()-before)
	}
	return fmt.Errorf("%s: unfinished URLs were published as canceled", why)
}
