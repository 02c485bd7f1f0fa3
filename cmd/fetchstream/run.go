package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/cpuprofile"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
	"github.com/fetchstream/fetchstream/stages/httpfetch/credentials"
)

// runFlags are `fetchstream run`'s flags: the service's Config, and the
// knobs of the process around it.
type runFlags struct {
	cfg         service.Config
	nats        natsFlags
	logFormat   string
	logLevel    string
	cpuProfile  string
	memoryLimit settings.ByteSize
	credentials string // file of named credentials, loaded by config
}

// register binds the flags, each defaulting to service.Defaults().
func (r *runFlags) register(fs *flag.FlagSet) {
	d := service.Defaults()
	r.cfg = d
	c := &r.cfg
	r.nats.register(fs, "; empty: start an embedded server on --listen")
	fs.StringVar(&c.Subjects.In, "in", d.Subjects.In, "subject batches arrive on")
	fs.StringVar(&c.Subjects.Out, "out", d.Subjects.Out, "subject results are published on")
	fs.StringVar(&c.Subjects.Batches, "batches-subject", d.Subjects.Batches, "subject batch summaries are published on")
	fs.StringVar(&c.NATS.Listen, "listen", d.NATS.Listen, "embedded NATS server address, when no --nats-url is given")
	fs.StringVar(&c.NATS.DataDir, "data-dir", d.NATS.DataDir, "embedded NATS server's JetStream directory")
	fs.StringVar(&c.Core.Queue, "queue", d.Core.Queue, "queue group: replicas in one group share the batches")
	fs.IntVar(&c.Fetch.Concurrency, "concurrency", d.Fetch.Concurrency, "requests in flight at most, across all batches")
	fs.DurationVar(&c.Fetch.Timeout, "timeout", d.Fetch.Timeout, "timeout of each attempt at a URL: connect, TLS, headers and body (see --retries)")
	fs.DurationVar(&c.Fetch.MaxTimeout, "max-timeout", d.Fetch.MaxTimeout, "a batch's timeout_ms is capped at this")
	fs.IntVar(&c.Fetch.MaxBatch, "max-batch", d.Fetch.MaxBatch, "URLs per batch at most; larger batches are rejected whole")
	fs.Var((*settings.ByteSize)(&c.Fetch.MaxBatchExpansion), "max-batch-expansion", "bytes of headers and bodies a batch's requests may hold once its default headers are copied into each (counted once per URL); a batch over it is refused as invalid_batch before any work")
	fs.IntVar(&c.Fetch.Window, "window", d.Fetch.Window, "per batch, URLs started but not yet published at most (bounds memory behind a slow URL)")
	fs.IntVar(&c.Fetch.MaxActive, "max-active", d.Fetch.MaxActive, "batches in progress at once; more wait their turn (batches that only wait for their hosts do not count: see --max-waiting)")
	fs.IntVar(&c.Fetch.MaxWaiting, "max-waiting", d.Fetch.MaxWaiting, "batches admitted beyond --max-active while they only wait for their hosts (a pace, a pause, robots.txt), so they never keep others out; bounds them, as each holds its requests (0 means none)")
	fs.DurationVar(&c.Fetch.MaxBatchTime, "max-batch-time", d.Fetch.MaxBatchTime, "every batch's lifetime from its arrival, at least --max-timeout (when not given: 15m, or --max-timeout when that is longer): then what is left of it ends as timeout; a batch whose own per_host_rate could not finish within it is refused")
	fs.IntVar(&c.Fetch.PerHost, "per-host", d.Fetch.PerHost, "requests in flight to one host at most, for the whole fleet of replicas (see --polite-fleet; 0 means no per-host cap); a URL whose host is full waits without a slot")
	fs.IntVar(&c.Fetch.ReserveSlots, "reserve-slots", d.Fetch.ReserveSlots, "slots no batch (or correlation_id) may take while it has a request in flight, kept one per batch for batches with none: one batch holds at most --concurrency minus this (-1 means one in 64 of --concurrency, at least 1, none at --concurrency 1; 0 means none)")
	fs.Var((*settings.ByteSize)(&c.Fetch.MaxHeldBytes), "max-held-bytes", "bytes of finished results held behind slow first URLs and for publishing (with the request-reply replies being gathered) at most: past it, batches start only their first unfinished URL until it drains (0 means no bound but --window × --max-active results; default: a quarter of the memory limit when there is one (--memory-limit, GOMEMLIMIT or the container's), else 32MiB)")
	registerPoliteness(fs, c, &d)
	fs.Var((*settings.ByteSize)(&c.Fetch.MaxBody), "max-body", "body bytes kept per result (decoded); the rest is cut and the result says body_truncated")
	fs.BoolVar(&c.Fetch.RefuseLarge, "refuse-large", d.Fetch.RefuseLarge, "fail bodies over --max-body as too_large instead of cutting them")
	fs.IntVar(&c.Fetch.MaxRedirects, "max-redirects", d.Fetch.MaxRedirects, "redirects followed per request at most (0 means none)")
	fs.IntVar(&c.Fetch.Retries, "retries", d.Fetch.Retries, "retries per URL after a timeout, a connection error or a 429, 502, 503 or 504 (0 to 10); --timeout bounds each attempt, and all of a URL's attempts and waits fit in --timeout × (retries+1)")
	fs.DurationVar(&c.Fetch.RetryBase, "retry-base", d.Fetch.RetryBase, "backoff before the first retry is random in [0, this); it doubles with each retry (full jitter), up to --retry-max; a Retry-After on 429 and 503 is honoured instead (0 means no backoff)")
	fs.DurationVar(&c.Fetch.RetryMax, "retry-max", d.Fetch.RetryMax, "longest backoff ceiling between retries")
	fs.StringVar(&c.Fetch.BodyMode, "body", d.Fetch.BodyMode, "bodies in results: auto (JSON as JSON, text as a string, binary as base64), text (binary bodies left out) or none; body_bytes and body_sha256 are given for every non-empty body")
	fs.StringVar(&c.Fetch.UserAgent, "user-agent", d.Fetch.UserAgent, "User-Agent of requests that set none (a batch's user_agent replaces it)")
	fs.Var((*settings.ByteSize)(&c.Fetch.MaxRequestBody), "max-request-body", "a request's body at most (body or body_base64 of a request object); a larger one fails as invalid_request (0 means the default, 256KiB)")
	fs.Var((*settings.NameList)(&c.Fetch.ResponseHeaders), "response-headers", "response headers every result returns in its headers, e.g. ETag,Last-Modified (repeatable, or comma-separated; a batch's response_headers adds to them)")
	fs.StringVar(&r.credentials, "credentials", "", `JSON file of named credentials, {"name": {"hosts": ["api.example.com"], "headers": {"Authorization": "Bearer ${TOKEN}"}}}: ${VAR} is expanded from the environment at start (and on SIGHUP, which reloads the file); a batch names one with "credential", and its headers go only to its hosts; an optional "subjects": ["fetch.urls.billing"] lets only batches from those input subjects use it`)
	fs.BoolVar(&c.Fetch.AllowPrivate, "allow-private", d.Fetch.AllowPrivate, "allow loopback and private destinations (never link-local such as 169.254.169.254)")
	fs.Var((*settings.PrefixList)(&c.Fetch.AllowNets), "allow-net", "allow destinations in this CIDR range (repeatable, or comma-separated)")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", d.ShutdownGrace, "on SIGINT/SIGTERM, time to finish batches in flight before the rest is canceled (core) or handed back for redelivery (--jetstream); a second signal ends it at once (0 means no time: at once)")
	fs.DurationVar(&c.StartupTimeout, "startup-timeout", d.StartupTimeout, "once connected, how long the start waits for what it sets up in JetStream (input stream and consumer, --results-stream, --object-store, --validators) while the cluster elects leaders or misses a node, each request tried again every few seconds; then run fails. Neither running nor ready before")
	registerDurability(fs, c, &d)
	registerStorage(fs, c, &d)
	fs.DurationVar(&c.PublishLinger, "publish-linger", d.PublishLinger, "under load, how long results may wait to be written to NATS together (one system call per run instead of one per result) (0 means none: each is published at once)")
	fs.StringVar(&r.logFormat, "log-format", "auto", "log format: auto (text on a terminal, else JSON), text or json")
	fs.StringVar(&r.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.Subjects.Micro, "micro-subject", d.Subjects.Micro, "subject of the micro service's request-reply fetch endpoint")
	fs.Var(&replySubjects{list: &c.Subjects.Replies}, "reply-subjects", "subjects a batch's reply may go to (its reply subject or Fetch-Reply-To), NATS wildcards allowed (repeatable, or comma-separated; replaces the default): a batch naming another is refused as invalid_batch. Never the service's own subjects nor $SRV; $JS, $KV, $O and other $ subjects only where an entry begins with that token. Clients with a custom inbox prefix add it here")
	fs.StringVar(&c.Ops.MetricsAddr, "metrics-addr", d.Ops.MetricsAddr, "serve /metrics (Prometheus), /healthz and /readyz on this address, e.g. :9090 (empty: off)")
	fs.BoolVar(&c.Ops.Pprof, "pprof", d.Ops.Pprof, "also serve Go's runtime profiles (heap, goroutine, CPU, ...) under /debug/pprof/ on --metrics-addr, for go tool pprof")
	fs.Var(&r.memoryLimit, "memory-limit", "soft memory limit for the Go runtime (as GOMEMLIMIT), e.g. 384MiB: the garbage collector works harder near it (0 means none; default: 90% of the container's memory limit, if there is one and GOMEMLIMIT is not set)")
	fs.StringVar(&r.cpuProfile, "cpu-profile", "", "write a CPU profile of the whole run to this `file` (for go tool pprof)")
}

// registerPoliteness binds the flags of the per-host pace, pauses and
// robots.txt. They hold for the fleet (--polite-fleet), as --per-host does.
func registerPoliteness(fs *flag.FlagSet, c, d *service.Config) {
	f := &c.Fetch
	fs.Float64Var(&f.PerHostRate, "per-host-rate", d.Fetch.PerHostRate, "requests per second to one host at most, for the whole fleet of replicas (see --polite-fleet; a token bucket; 0 means no pace); a batch's per_host_rate may lower it; a URL waiting for its host takes no slot")
	fs.IntVar(&f.PerHostBurst, "per-host-burst", d.Fetch.PerHostBurst, "--per-host-rate: requests a host that was quiet may get at once (0 means 1)")
	fs.Float64Var(&f.PerHostJitter, "per-host-jitter", d.Fetch.PerHostJitter, "--per-host-rate: after each request, hold the host a random part, up to this fraction (0 to 1), of the interval 1/rate")
	fs.StringVar(&f.PerHostKey, "per-host-key", d.Fetch.PerHostKey, "what --per-host, --per-host-rate and pauses count as one host: host (host:port) or domain (registrable domain: a.example.com and b.example.com are one)")
	fs.DurationVar(&f.MaxHostPause, "max-host-pause", d.Fetch.MaxHostPause, "a 429 or 503 with Retry-After pauses new requests to its host, from every batch, for that long, up to this (0 means no pauses); without Retry-After it halves the host's --per-host-rate, which comes back with successes")
	fs.BoolVar(&f.Robots, "robots", d.Fetch.Robots, "obey robots.txt (for User-Agent fetchstream) for every batch, not only those that ask with \"robots\": true; a disallowed URL fails as robots_disallowed without a request, and Crawl-delay paces the site")
	fs.StringVar(&f.Fleet, "polite-fleet", d.Fetch.Fleet, "replicas with the same fleet name share one cap (--per-host), one pace (--per-host-rate, a batch's per_host_rate, Crawl-delay), one pause and one robots.txt per host, through the JetStream bucket fetchstream_polite_<name> (empty means a name from --in and --queue or --durable; off: each replica keeps its own, as it does when the server has no JetStream)")
	fs.DurationVar(&f.RobotsTTL, "robots-ttl", d.Fetch.RobotsTTL, "how long a site's robots.txt is kept (0 means the default, 1h); one that could not be read disallows the site for a minute at most")
}

// registerDurability binds the flags of the input's delivery and buffers.
func registerDurability(fs *flag.FlagSet, c, d *service.Config) {
	j := &c.JetStream
	fs.BoolVar(&j.Enabled, "jetstream", d.JetStream.Enabled, "take batches from a durable JetStream consumer (at-least-once: a batch is acked only once its results are published) instead of a core NATS queue group (at-most-once)")
	fs.StringVar(&j.Stream, "stream", d.JetStream.Stream, "--jetstream: stream over --in, created if absent (an existing one is used unchanged)")
	fs.StringVar(&j.Durable, "durable", d.JetStream.Durable, "--jetstream: durable pull consumer shared by all replicas, created if absent (an existing one is used unchanged)")
	fs.DurationVar(&j.AckWait, "ack-wait", d.JetStream.AckWait, "--jetstream: a created consumer's AckWait: a killed replica's batches are delivered again this long after its last sign of life")
	fs.IntVar(&j.MaxDeliver, "max-deliver", d.JetStream.MaxDeliver, "--jetstream: a created consumer's MaxDeliver: a batch is fetched at most this many times minus one, and on its last delivery it goes to --dead-letter instead (-1 means no limit)")
	fs.IntVar(&j.MaxAckPending, "max-ack-pending", d.JetStream.MaxAckPending, "--jetstream: a created consumer's MaxAckPending: batches in progress across all replicas at most (each replica holds at most --max-active+--max-waiting+2)")
	fs.DurationVar(&j.OutputRetryFor, "output-retry-for", d.JetStream.OutputRetryFor, "--jetstream: how long an output stream that cannot store (electing a leader, its node lost) is waited out, publishes held and retried in order, before the batches waiting on it are handed back for redelivery with a growing delay (at least 1s; 0 means the default, 2m)")
	fs.StringVar(&j.DeadLetter, "dead-letter", d.JetStream.DeadLetter, "--jetstream: subject for batches given up on (undecodable, too large, or delivered --max-deliver times), with the reason in headers")
	fs.IntVar(&c.Core.PendingBatches, "pending-batches", d.Core.PendingBatches, "core mode: batches a replica buffers beyond those in progress; past this NATS drops batches for it, as a slow consumer, logged (0 means the default, 1024)")
	fs.Var((*settings.ByteSize)(&c.Core.PendingBytes), "pending-bytes", "core mode: bytes of batches a replica buffers beyond those in progress, at least 1KiB; past this NATS drops batches for it (0 means the default, 64MiB)")
}

// registerStorage binds the flags of what the service keeps in JetStream.
func registerStorage(fs *flag.FlagSet, c, d *service.Config) {
	st := &c.Storage
	fs.IntVar(&st.Replicas, "stream-replicas", d.Storage.Replicas, "replicas of every stream and bucket fetchstream creates (--stream, --results-stream, --object-store, --validators): 3 on a three-node NATS cluster, so that losing a node loses nothing (0 means 1); existing ones keep theirs")
	fs.StringVar(&st.ResultsStream, "results-stream", d.Storage.ResultsStream, "keep results and summaries in this stream over --out and --batches-subject, created if absent, each once per Nats-Msg-Id (with --jetstream a batch is acked only once the stream has them); empty: none")
	fs.DurationVar(&st.ResultsMaxAge, "results-max-age", d.Storage.ResultsMaxAge, "--results-stream: how long a created stream keeps results, at least 1s (0 means the default, 24h)")
	fs.StringVar(&st.ObjectStore, "object-store", d.Storage.ObjectStore, "keep bodies over --max-body and up to --max-object in this JetStream Object Store bucket (created if absent), named by their SHA-256: results carry body_object instead of the body; empty: bodies are cut at --max-body")
	fs.DurationVar(&st.ObjectTTL, "object-ttl", d.Storage.ObjectTTL, "--object-store: how long a created bucket keeps a body (0 means for ever)")
	fs.Var((*settings.ByteSize)(&st.MaxObject), "max-object", "--object-store: largest body stored (decoded), above --max-body (0 means the default, 64MiB); a larger one is cut at --max-body as without a store")
	fs.StringVar(&st.Validators, "validators", d.Storage.Validators, "keep each GET's ETag, Last-Modified and body hash in this JetStream key-value bucket (created if absent), keyed by the batch's poll, method, URL, request headers and credential name (never its value): later GETs are sent with If-None-Match/If-Modified-Since and results say \"changed\" (a batch opts out of the conditional headers with \"conditional\": false); empty: none")
	fs.DurationVar(&st.ValidatorsTTL, "validators-ttl", d.Storage.ValidatorsTTL, "--validators: how long a created bucket keeps a URL's validators, at least 1s (0 means the default, 168h): a URL polled less often is fetched in full, as changed")
	fs.Var((*settings.ByteSize)(&st.ValidatorsMaxBytes), "validators-max-bytes", "--validators: largest size of a created bucket, at least 1MiB (0 means the default, 1GiB); when full, the oldest validators go first (those URLs are fetched in full once)")
	fs.DurationVar(&st.ValidatorsTimeout, "validators-timeout", d.Storage.ValidatorsTimeout, "--validators: how long a GET waits for its validators, from 1ms to 10s (0 means the default, 250ms): past it the GET goes out unconditional and its result says changed")
	fs.StringVar(&c.Subjects.Changes, "changes", d.Subjects.Changes, "--validators: also publish every result with \"changed\": true on this subject (kept in --results-stream when there is one; with --jetstream acked before the batch); empty: none")
}

// config is the service's Config with the NATS connection flags in it.
func (r *runFlags) config() (service.Config, error) {
	cfg := r.cfg
	cfg.NATS.URL = r.nats.URL
	opts, err := r.nats.options()
	if err != nil {
		return cfg, err
	}
	cfg.NATS.Options = opts
	cfg.Fetch.BlockedAdvice = policyAdvice
	if r.credentials != "" {
		set, err := credentials.Load(r.credentials)
		if err != nil {
			return cfg, fmt.Errorf("--credentials %s: %w", r.credentials, err)
		}
		cfg.Fetch.Credentials = set
	}
	return cfg, nil
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

// reloadCredentials loads the credentials file again on each signal from
// hup (SIGHUP) until ctx ends, and gives the service the new set. A file
// that no longer loads is logged (its error names the credential and the
// variable, never a value) and the service keeps the set it has.
func reloadCredentials(ctx context.Context, hup <-chan os.Signal, path string, svc *service.Service, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		set, err := credentials.Load(path)
		if err != nil {
			log.Error("credentials not reloaded: the service keeps those it has", "file", path, "error", err.Error())
			continue
		}
		svc.SetCredentials(set)
		log.Info("credentials reloaded", "file", path, "credentials", set.Names())
	}
}

// setMemoryLimit applies limit, what memoryLimitOf found: --memory-limit
// when it is given (0 for none, whatever GOMEMLIMIT says); otherwise,
// unless GOMEMLIMIT is set (the runtime took it at start), 90 % of the
// container's memory limit when there is one (see defaultMemoryLimit).
func setMemoryLimit(fs *flag.FlagSet, limit int64, log *slog.Logger) {
	given := flagGiven(fs, "memory-limit")
	switch {
	case given && limit > 0:
		debug.SetMemoryLimit(limit)
	case given:
		debug.SetMemoryLimit(math.MaxInt64) // 0: none, whatever GOMEMLIMIT says
	case os.Getenv("GOMEMLIMIT") == "" && limit > 0:
		debug.SetMemoryLimit(limit)
		log.Info("soft memory limit set to 90% of the container's", "memory_limit_bytes", limit)
	}
}

func runCommand(stdout, stderr io.Writer) *ffcli.Command {
	var flags runFlags
	fs := flag.NewFlagSet("fetchstream run", flag.ContinueOnError)
	flags.register(fs)
	fs.String("config", "", "file of flags, one \"flag value\" per line (# comments); flags given on the command line win over FETCHSTREAM_<FLAG> variables, which win over the file")
	return &ffcli.Command{
		Name:       "run",
		ShortUsage: "fetchstream run [flags]",
		ShortHelp:  "run the fetch service (embedded NATS when no --nats-url)",
		LongHelp: "Run the service: take batches of URLs from --in, fetch them with at most --concurrency\n" +
			"requests in flight, publish each result on --out in batch order and a summary on\n" +
			"--batches-subject. Every flag can also be set as FETCHSTREAM_<FLAG> (for example\n" +
			"FETCHSTREAM_CONCURRENCY=128) or in a --config file. Tracing is set by OpenTelemetry's\n" +
			"variables: OTEL_EXPORTER_OTLP_ENDPOINT (off when unset), OTEL_EXPORTER_OTLP_PROTOCOL\n" +
			"(http/protobuf or grpc), OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER (see docs/operations.md).",
		FlagSet: fs,
		Options: settings.Options(fs, false),
		Exec: func(ctx context.Context, args []string) error {
			return runService(ctx, fs, &flags, args, stderr)
		},
	}
}

// runService is run's Exec, with the flags parsed into flags (fs).
func runService(ctx context.Context, fs *flag.FlagSet, flags *runFlags, args []string, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("run takes no arguments, got %q", args)
	}
	followMaxTimeout(fs, flags)
	memoryLimit := memoryLimitOf(fs, flags)
	sizeHeldBytes(fs, flags, memoryLimit)
	cfg, err := flags.config()
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, flags.logFormat, flags.logLevel)
	if err != nil {
		return err
	}
	log = inFlagTermsLog(log)
	for _, key := range settings.UnknownEnv(fs, os.Environ()) {
		log.Warn("an environment variable names no flag of run; ignored", "variable", key)
	}
	tp, stopTracing, err := startTracing(ctx, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	cfg.Tracing = tp
	svc, err := service.New(cfg, log)
	if err != nil {
		return inFlagTerms(err)
	}
	if flags.credentials != "" {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		reloadCtx, stopReload := context.WithCancel(ctx)
		defer stopReload()
		go reloadCredentials(reloadCtx, hup, flags.credentials, svc, log)
	}
	setMemoryLimit(fs, memoryLimit, log)
	if flags.cpuProfile != "" {
		stop, err := cpuprofile.Start(flags.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer stop()
	}
	if cut := cutShort(ctx); cut != nil {
		ran := make(chan struct{})
		defer close(ran)
		go func() {
			select {
			case <-cut:
				log.Warn("second signal: ending the shutdown grace now")
				svc.CutShort()
			case <-ran:
			}
		}()
	}
	return inFlagTerms(svc.Run(ctx))
}
