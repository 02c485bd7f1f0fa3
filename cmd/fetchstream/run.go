package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
)

// maxLinger caps --publish-linger: it is meant to batch writes, not to
// hold results back.
const maxLinger = 100 * time.Millisecond

// runConfig is everything `fetchstream run` is told.
type runConfig struct {
	nats         natsFlags
	subjects     subjectFlags
	listen       string
	dataDir      string
	queue        string
	logFormat    string
	logLevel     string
	cpuProfile   string
	metricsAddr  string
	pprof        bool
	memoryLimit  byteSize
	microSubject string

	concurrency  int
	timeout      time.Duration
	maxTimeout   time.Duration
	maxBatch     int
	window       int
	maxActive    int
	perHost      int
	maxBody      byteSize
	refuseLarge  bool
	maxRedirects int
	retries      int
	retryBase    time.Duration
	retryMax     time.Duration
	bodyMode     string
	allowPrivate bool
	allowNets    prefixList
	grace        time.Duration
	linger       time.Duration

	durability durabilityFlags
}

func (c *runConfig) register(fs *flag.FlagSet) {
	c.nats.register(fs, "; empty: start an embedded server on --listen")
	c.subjects.register(fs)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:4222", "embedded NATS server address, when no --nats-url is given")
	fs.StringVar(&c.dataDir, "data-dir", filepath.Join(os.TempDir(), "fetchstream", "jetstream"), "embedded NATS server's JetStream directory")
	fs.StringVar(&c.queue, "queue", "fetchstream", "queue group: replicas in one group share the batches")
	fs.IntVar(&c.concurrency, "concurrency", 64, "requests in flight at most, across all batches")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "timeout of each attempt at a URL: connect, TLS, headers and body (see --retries)")
	fs.DurationVar(&c.maxTimeout, "max-timeout", time.Minute, "a batch's timeout_ms is capped at this")
	fs.IntVar(&c.maxBatch, "max-batch", 10000, "URLs per batch at most; larger batches are rejected whole")
	fs.IntVar(&c.window, "window", 256, "per batch, URLs started but not yet published at most (bounds memory behind a slow URL)")
	fs.IntVar(&c.maxActive, "max-active", 256, "batches in progress at once; more wait their turn")
	fs.IntVar(&c.perHost, "per-host", 0, "requests in flight to one host:port at most (0: no per-host cap)")
	c.maxBody = 256 << 10
	fs.Var(&c.maxBody, "max-body", "body bytes kept per result (decoded); the rest is cut and the result says body_truncated")
	fs.BoolVar(&c.refuseLarge, "refuse-large", false, "fail bodies over --max-body as too_large instead of cutting them")
	fs.IntVar(&c.maxRedirects, "max-redirects", 10, "redirects followed per request at most")
	fs.IntVar(&c.retries, "retries", 0, "retries per URL after a timeout, a connection error or a 429, 502, 503 or 504 (0 to 10); --timeout bounds each attempt, and all of a URL's attempts and waits fit in --timeout × (retries+1)")
	fs.DurationVar(&c.retryBase, "retry-base", 200*time.Millisecond, "backoff before the first retry is random in [0, this); it doubles with each retry (full jitter), up to --retry-max; a Retry-After on 429 and 503 is honoured instead")
	fs.DurationVar(&c.retryMax, "retry-max", 5*time.Second, "longest backoff ceiling between retries")
	fs.StringVar(&c.bodyMode, "body", "auto", "bodies in results: auto (JSON as JSON, text as a string, binary as base64), text (binary bodies left out) or none; body_bytes and body_sha256 are given for every non-empty body")
	fs.BoolVar(&c.allowPrivate, "allow-private", false, "allow loopback and private destinations (never link-local such as 169.254.169.254)")
	fs.Var(&c.allowNets, "allow-net", "allow destinations in this CIDR range (repeatable, or comma-separated)")
	fs.DurationVar(&c.grace, "shutdown-grace", 30*time.Second, "on SIGINT/SIGTERM, time to finish batches in flight before the rest is canceled (core) or handed back for redelivery (--jetstream)")
	c.durability.register(fs)
	fs.DurationVar(&c.linger, "publish-linger", 500*time.Microsecond, "under load, how long results may wait to be written to NATS together (one system call per run instead of one per result); 0: publish each at once")
	fs.StringVar(&c.logFormat, "log-format", "auto", "log format: auto (text on a terminal, else JSON), text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.microSubject, "micro-subject", "fetchstream.fetch", "subject of the micro service's request-reply fetch endpoint")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve /metrics (Prometheus), /healthz and /readyz on this address, e.g. :9090 (empty: off)")
	fs.BoolVar(&c.pprof, "pprof", false, "also serve Go's runtime profiles (heap, goroutine, CPU, ...) under /debug/pprof/ on --metrics-addr, for `go tool pprof`")
	fs.Var(&c.memoryLimit, "memory-limit", "soft memory limit for the Go runtime (as GOMEMLIMIT), e.g. 384MiB: the garbage collector works harder near it; 0: none (default: 90% of the container's memory limit, if there is one and GOMEMLIMIT is not set)")
	fs.StringVar(&c.cpuProfile, "cpu-profile", "", "write a CPU profile of the whole run to this file (for `go tool pprof`)")
}

func (c *runConfig) validate() error {
	switch {
	case c.concurrency < 1:
		return fmt.Errorf("--concurrency must be at least 1, got %d", c.concurrency)
	case c.timeout <= 0:
		return fmt.Errorf("--timeout must be positive, got %s", c.timeout)
	case c.maxTimeout < c.timeout:
		return fmt.Errorf("--max-timeout (%s) must not be below --timeout (%s)", c.maxTimeout, c.timeout)
	case c.maxBatch < 1:
		return fmt.Errorf("--max-batch must be at least 1, got %d", c.maxBatch)
	case c.window < 1:
		return fmt.Errorf("--window must be at least 1, got %d", c.window)
	case c.maxActive < 1:
		return fmt.Errorf("--max-active must be at least 1, got %d", c.maxActive)
	case c.perHost < 0:
		return fmt.Errorf("--per-host must not be negative, got %d", c.perHost)
	case c.maxBody < 1:
		return fmt.Errorf("--max-body must be at least 1 byte")
	case c.maxRedirects < 0:
		return fmt.Errorf("--max-redirects must not be negative, got %d", c.maxRedirects)
	case c.retries < 0 || c.retries > httpfetch.MaxRetries:
		return fmt.Errorf("--retries must be from 0 to %d, got %d", httpfetch.MaxRetries, c.retries)
	case c.retryBase < 0 || c.retryMax < c.retryBase:
		return fmt.Errorf("--retry-base (%s) must not be negative nor above --retry-max (%s)", c.retryBase, c.retryMax)
	case c.grace < 0:
		return fmt.Errorf("--shutdown-grace must not be negative, got %s", c.grace)
	case c.linger < 0 || c.linger > maxLinger:
		return fmt.Errorf("--publish-linger must be from 0 to %s, got %s", maxLinger, c.linger)
	case c.pprof && c.metricsAddr == "":
		return fmt.Errorf("--pprof needs --metrics-addr: profiles are served there")
	}
	if _, err := httpfetch.ParseBodyMode(c.bodyMode); err != nil {
		return fmt.Errorf("--body: must be auto, text or none, got %q", c.bodyMode)
	}
	if _, _, err := net.SplitHostPort(c.listen); err != nil {
		return fmt.Errorf("--listen %q: want host:port", c.listen)
	}
	for flagName, subject := range map[string]string{"--in": c.subjects.in, "--out": c.subjects.out,
		"--batches-subject": c.subjects.batches, "--micro-subject": c.microSubject} {
		if err := validSubject(subject, flagName == "--in"); err != nil {
			return fmt.Errorf("%s %q: %w", flagName, subject, err)
		}
	}
	return c.durability.validate(c.maxActive)
}

// validSubject checks a NATS subject: dot-separated non-empty tokens
// without spaces; wildcards only where subscribing (wild).
func validSubject(subject string, wild bool) error {
	if subject == "" {
		return errors.New("empty subject")
	}
	tokens := strings.Split(subject, ".")
	for i, token := range tokens {
		switch {
		case token == "":
			return errors.New("empty token")
		case strings.ContainsAny(token, " \t\r\n"):
			return errors.New("white space in a subject")
		case !wild && (token == "*" || token == ">"):
			return errors.New("wildcards are only for the input subject")
		case token == ">" && i != len(tokens)-1:
			return errors.New("'>' must be the last token")
		}
	}
	return nil
}

func (c *runConfig) fetcherConfig() httpfetch.Config {
	return httpfetch.Config{
		Concurrency:  c.concurrency,
		MaxBody:      int64(c.maxBody),
		RefuseLarge:  c.refuseLarge,
		MaxRedirects: c.maxRedirects,
		Retries:      c.retries,
		RetryBase:    c.retryBase,
		RetryMax:     c.retryMax,
		BodyMode:     httpfetch.BodyMode(c.bodyMode),
		Policy:       httpfetch.Policy{AllowPrivate: c.allowPrivate, AllowNets: c.allowNets, Advice: policyAdvice},
	}
}

// setMemoryLimit applies --memory-limit when it is given (0 for none);
// otherwise, unless GOMEMLIMIT is set, 90 % of the container's memory
// limit when there is one (see defaultMemoryLimit).
func setMemoryLimit(fs *flag.FlagSet, cfg *runConfig, log *slog.Logger) {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "memory-limit" })
	switch {
	case given && cfg.memoryLimit > 0:
		debug.SetMemoryLimit(int64(cfg.memoryLimit))
	case given:
		debug.SetMemoryLimit(math.MaxInt64) // 0: none, whatever GOMEMLIMIT says
	case os.Getenv("GOMEMLIMIT") == "":
		if limit := defaultMemoryLimit(os.DirFS("/")); limit > 0 {
			debug.SetMemoryLimit(limit)
			log.Info("soft memory limit set to 90% of the container's", "memory_limit_bytes", limit)
		}
	}
}

func runCommand(stdout, stderr io.Writer) *ffcli.Command {
	var cfg runConfig
	fs := flag.NewFlagSet("fetchstream run", flag.ContinueOnError)
	cfg.register(fs)
	fs.String("config", "", "file of flags, one \"flag value\" per line")
	return &ffcli.Command{
		Name:       "run",
		ShortUsage: "fetchstream run [flags]",
		ShortHelp:  "run the fetch service (embedded NATS when no --nats-url)",
		LongHelp: "Run the service: take batches of URLs from --in, fetch them with at most --concurrency\n" +
			"requests in flight, publish each result on --out in batch order and a summary on\n" +
			"--batches-subject. Every flag can also be set as FETCHSTREAM_<FLAG> (for example\n" +
			"FETCHSTREAM_CONCURRENCY=128) or in a --config file.",
		FlagSet: fs,
		Options: parseOptions(),
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("run takes no arguments, got %q", args)
			}
			if err := cfg.validate(); err != nil {
				return err
			}
			log, err := newLogger(stderr, cfg.logFormat, cfg.logLevel)
			if err != nil {
				return err
			}
			setMemoryLimit(fs, &cfg, log)
			if cfg.cpuProfile != "" {
				stop, err := startCPUProfile(cfg.cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			return runService(ctx, &cfg, log)
		},
	}
}

// runService runs until ctx is canceled, then shuts down gracefully: it
// stops taking batches, lets those in flight finish within the grace
// period, cancels what is left (core: those URLs end as canceled results;
// JetStream: their batches are nak'ed for redelivery), publishes
// everything, flushes and closes the connection. It returns nil only when
// nothing was cut short.
func runService(ctx context.Context, cfg *runConfig, log *slog.Logger) error {
	m := newMetrics()
	conn, err := connectOrEmbed(ctx, cfg, log, m)
	if err != nil {
		return err
	}
	defer conn.close()
	fetcher, err := httpfetch.New(cfg.fetcherConfig())
	if err != nil {
		return err
	}
	defer fetcher.Close()
	fetchCtx, cancelFetches := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFetches()
	var running atomic.Pointer[pipeline] // for /readyz, which may ask before the pipeline starts
	if cfg.metricsAddr != "" {
		opsCtx, stopOps := context.WithCancel(context.WithoutCancel(ctx))
		defer stopOps()
		addr, err := serveOps(opsCtx, cfg.metricsAddr, cfg.pprof, m, func() error {
			if p := running.Load(); p != nil {
				return p.ready(ctx)
			}
			return fmt.Errorf("%w: starting", connectors.ErrNotReady)
		})
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		log.Info("serving /metrics, /healthz and /readyz", "addr", addr.String(), "pprof", cfg.pprof)
	}
	p, err := startPipeline(ctx, fetchCtx, conn.nc, fetcher, cfg, log, m)
	if err != nil {
		return err
	}
	running.Store(p)
	log.Info("fetchstream running", "mode", p.mode(), "in", cfg.subjects.in, "from", p.from(cfg), "out", cfg.subjects.out,
		"batches", cfg.subjects.batches, "concurrency", cfg.concurrency, "timeout", cfg.timeout.String())
	select {
	case <-p.done:
		return errors.New("the input closed (NATS connection lost for good)")
	case <-ctx.Done():
	}
	log.Info("shutting down: taking no new batches, finishing those in flight", "grace", cfg.grace)
	grace := time.NewTimer(cfg.grace)
	defer grace.Stop()
	select {
	case <-p.done:
		log.Info("shutdown complete: every batch in flight was finished and published")
		return nil
	case <-grace.C:
	}
	before := p.handedBack()
	cancelFetches()
	<-p.done
	if p.jetStream != nil {
		return fmt.Errorf("shutdown grace of %s ran out: unfinished batches left unacked for redelivery: %d",
			cfg.grace, p.handedBack()-before)
	}
	return fmt.Errorf("shutdown grace of %s ran out: unfinished URLs were published as canceled", cfg.grace)
}

// policyAdvice ends a blocked result's message with the flag that would
// open the address: --allow-private only where it would (loopback and
// private ranges), else --allow-net alone (link-local, CGNAT, 0.0.0.0,
// multicast and the rest are never opened by --allow-private).
func policyAdvice(private bool) string {
	if private {
		return "use --allow-private or --allow-net to permit it"
	}
	return "use --allow-net to permit it"
}
