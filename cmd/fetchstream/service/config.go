package service

import (
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/tracing"
	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
	"github.com/fetchstream/fetchstream/stages/httpfetch/credentials"
	"github.com/fetchstream/fetchstream/wire"
)

// Config is everything the service is told, in plain Go values. Start from
// Defaults and change what differs; New validates it.
type Config struct {
	NATS      NATSConfig
	Subjects  SubjectsConfig
	Core      CoreConfig      // the input as a core NATS queue group (when JetStream.Enabled is false)
	JetStream JetStreamConfig // the input as a durable JetStream consumer
	Fetch     FetchConfig
	Storage   StorageConfig // replicas, the results stream, the object store
	Ops       OpsConfig

	// ShutdownGrace is how long, once Run's context is canceled, batches
	// in flight may take to finish before the rest is canceled (core) or
	// handed back for redelivery (JetStream).
	ShutdownGrace time.Duration
	// StartupTimeout bounds how long Run, once connected, waits for what it
	// sets up in JetStream (the input stream and consumer, the results
	// stream, the object store bucket, which streams capture the output
	// and dead-letter subjects) while a cluster elects its leaders or has
	// lost a node: each request is tried again after a few seconds
	// (connectors.SetupTryTimeout) with backoff; past this Run fails. The
	// service is not running, nor ready, before its input exists.
	StartupTimeout time.Duration
	// PublishLinger is how long, under load, results may wait to be
	// written to NATS together; 0 publishes each at once. At most
	// MaxPublishLinger.
	PublishLinger time.Duration
	// Tracing, when set, is where the service's spans go (see package
	// tracing, which builds it from the OTEL_* variables); its drops are
	// counted in /metrics. Nil: no spans, and a batch's trace context is
	// passed on to its results and summary as it came. Whoever made it
	// shuts it down, after Run.
	Tracing *tracing.Provider
}

// NATSConfig says which NATS server the service joins.
type NATSConfig struct {
	// URL is the server URL, or several comma-separated. Empty: start an
	// embedded server with JetStream on Listen, storing in DataDir.
	URL string
	// Options are added to the service's own (reconnect forever, pings,
	// the handlers that log and count): authentication and TLS.
	Options []nats.Option
	Listen  string // host:port of the embedded server; port -1 for any free one
	DataDir string // the embedded server's JetStream directory, created if absent
}

// SubjectsConfig are the wire subjects.
type SubjectsConfig struct {
	In      string // batches arrive here; wildcards allowed
	Out     string // results are published here
	Batches string // batch summaries are published here
	Micro   string // the NATS micro service's request-reply fetch endpoint (both modes: a direct request, at most once)
	// Replies are the subjects a batch may name for its reply (its own
	// reply subject or the Fetch-Reply-To header), NATS wildcards
	// allowed; a batch naming another is refused as invalid_batch, not
	// fetched. Whatever they say, never a subject the service reads or
	// publishes, nor $SRV, and $JS, $KV and $O only where an entry names
	// that prefix itself (see connectors.ReplyPolicy).
	Replies []string
	// Changes, if set, also gets every result that says "changed": true
	// (see Storage.Validators), as it went to Out: a consumer of changes
	// reads no unchanged result. In JetStream mode, when a stream
	// captures it (Storage.ResultsStream does), through JetStream with
	// Nats-Msg-Id "<batch_id>/<index>/changed", acked before the batch is.
	Changes string
}

// CoreConfig is the core NATS input: at-most-once, shared by a queue group.
type CoreConfig struct {
	Queue string // queue group: replicas in one group share the batches
	// PendingBatches and PendingBytes bound the batches a replica buffers
	// beyond those in progress; past them NATS drops batches for it (a
	// slow consumer, logged and counted). 0 means the default, the same as
	// Defaults' (connectors.DefaultPendingBatches, DefaultPendingBytes);
	// PendingBytes, when set, at least 1KiB.
	PendingBatches int
	PendingBytes   int64
}

// JetStreamConfig is the JetStream input: at-least-once, a batch acked
// only once its results are published.
type JetStreamConfig struct {
	Enabled bool
	Stream  string // stream over Subjects.In, created if absent (an existing one is used unchanged); no dots or spaces
	Durable string // durable pull consumer shared by all replicas, created if absent
	// AckWait, MaxDeliver (-1 means no limit) and MaxAckPending are a created
	// consumer's settings. MaxAckPending must be at least
	// Fetch.MaxActive+Fetch.MaxWaiting+2, what one replica may hold.
	AckWait       time.Duration
	MaxDeliver    int
	MaxAckPending int
	// DeadLetter is the subject of batches given up on (undecodable, too
	// large, or delivered MaxDeliver times), with the reason in headers.
	DeadLetter string
	// OutputRetryFor is how long an output stream that cannot store (it
	// elects a leader, its node is gone) is waited out, publishes held and
	// retried in order, before the batches waiting on it are handed back
	// with a growing delay (see connectors.PublisherConfig.RetryFor and
	// connectors.HandBackDelay). At least 1s; 0:
	// connectors.DefaultOutputRetryFor.
	OutputRetryFor time.Duration
}

// FetchConfig bounds the fetching.
type FetchConfig struct {
	Concurrency int           // requests in flight at most, across all batches
	Timeout     time.Duration // timeout of each attempt at a URL
	MaxTimeout  time.Duration // a batch's timeout_ms is capped at this
	MaxBatch    int           // URLs per batch at most; larger batches are rejected whole
	Window      int           // per batch, URLs started but not yet published at most
	MaxActive   int           // batches in progress at once, not counting those that only wait for their hosts
	PerHost     int           // requests in flight to one host at most; 0 means no cap
	// ReserveSlots are the slots no flow (a batch, or the batches sharing
	// a correlation_id) may take while it has a request in flight: one
	// flow holds at most Concurrency-ReserveSlots, and the rest go one per
	// flow to flows with nothing in flight (see engine.FetchConfig.Reserve).
	// -1 means engine.DefaultReserve(Concurrency); 0 means none.
	ReserveSlots int
	// MaxHeldBytes bounds the bytes of finished results held behind slow
	// first URLs and for publishing, with the one-message replies being
	// gathered: past it, batches start only their first unfinished URL
	// until it drains (see engine.FetchConfig.MaxHeldBytes). 0 means no bound
	// but Window × MaxActive results. `run` sizes it from the memory limit.
	MaxHeldBytes int64

	// MaxWaiting is how many batches more than MaxActive may be admitted
	// while they only wait for their hosts (a pace, a pause, robots.txt;
	// nothing in flight), so that they never keep other batches out; it
	// bounds them, as each holds its decoded requests.
	MaxWaiting int
	// MaxBatchTime is every batch's lifetime, from its arrival: then what
	// is left of it ends as timeout. At least MaxTimeout: the service
	// always bounds it (to the stages, 0 would mean none). A batch whose
	// own per_host_rate could not finish within it is refused at once.
	MaxBatchTime time.Duration

	// Politeness per host (or registrable domain, with PerHostKey
	// "domain"), for the fleet: the replicas with the same Fleet share one
	// cap (PerHost), one pace, one pause and one robots.txt per host
	// through a JetStream key-value bucket. Fleet "" names the fleet
	// after the input subject and the queue group (or durable); FleetOff,
	// or a server without JetStream, keeps them per replica.
	Fleet         string
	PerHostRate   float64       // requests per second to one host at most (a token bucket); 0 means no pace
	PerHostBurst  int           // the bucket: requests a quiet host may get at once; 0 is 1
	PerHostJitter float64       // 0 to 1: hold a host a random part, up to this fraction, of 1/PerHostRate after each request
	PerHostKey    string        // what counts as one host: "host" (host:port; also "") or "domain" (registrable domain)
	MaxHostPause  time.Duration // a 429 or 503 with Retry-After pauses its host for every batch, up to this; 0 means no pauses
	Robots        bool          // obey robots.txt for every batch (a batch may ask with "robots": true)
	RobotsTTL     time.Duration // how long a site's robots.txt is kept; 0 means engine.DefaultRobotsTTL

	MaxBody      int64  // body bytes kept per result; the rest is cut (or refused, with RefuseLarge)
	RefuseLarge  bool   // fail bodies over MaxBody as too_large instead of cutting them
	MaxRedirects int    // redirects followed per request at most
	BodyMode     string // auto (also ""), text or none (see httpfetch.BodyMode)

	Retries   int           // retries per URL after a transient failure, 0 to httpfetch.MaxRetries
	RetryBase time.Duration // first backoff ceiling, doubling per retry (full jitter)
	RetryMax  time.Duration // largest backoff ceiling, at least RetryBase

	// UserAgent is sent with requests that set none ("" is "fetchstream");
	// a batch's user_agent replaces it.
	UserAgent string
	// MaxRequestBody caps a request's body; a larger one fails alone as
	// invalid_request; 0 means httpfetch.DefaultMaxRequestBody. The whole batch
	// must fit a NATS message anyway.
	MaxRequestBody int64
	// MaxBatchExpansion bounds the bytes of headers and bodies a batch's
	// requests hold once its default headers are merged into each (see
	// wire.Batch.Expansion); a batch over it is refused as invalid_batch
	// before any work. At least 1: the service always bounds it (to
	// stages.DecodeConfig, 0 would mean no bound).
	MaxBatchExpansion int64
	// ResponseHeaders names the response headers every result returns in
	// its headers (a batch's response_headers adds to them).
	ResponseHeaders []string
	// Credentials are the named credentials batches may use (see package
	// credentials: loaded, and their variables expanded, by the caller,
	// as New does no I/O); nil: none, and a batch naming one fails its
	// requests as invalid_request.
	Credentials *credentials.Set

	AllowPrivate bool           // allow loopback and private destinations (never link-local)
	AllowNets    []netip.Prefix // allow destinations in these ranges
	// BlockedAdvice, if set, words the end of a blocked result's message:
	// what would open the refused address (see httpfetch.Policy.Advice;
	// the CLI names its flags). nil: words that name no setting.
	BlockedAdvice func(private bool) string
}

// StorageConfig is what the service keeps in JetStream, and how many
// copies of it.
type StorageConfig struct {
	// Replicas is the replica count of every stream and bucket the service
	// creates (the input stream, the results stream, the object store
	// bucket): 1, or 3 on a three-node cluster so that losing a node loses
	// nothing. At most connectors.MaxReplicas; 0 is 1. Existing ones keep
	// theirs.
	Replicas int
	// ResultsStream, if set, names a stream capturing Subjects.Out and
	// Subjects.Batches, created if absent: results and summaries are kept
	// there, each once per Nats-Msg-Id, for ResultsMaxAge (at least 1s;
	// 0 means connectors.DefaultResultsMaxAge). In JetStream mode a batch is
	// acked only once the stream has acked them, and the duplicate window
	// spans a batch's deliveries (see connectors.DuplicateWindow, with
	// JetStream.OutputRetryFor).
	ResultsStream string
	ResultsMaxAge time.Duration
	// ObjectStore, if set, names an Object Store bucket, created if absent
	// with ObjectTTL (0 means kept for ever): a body over Fetch.MaxBody and up
	// to MaxObject is stored there under its SHA-256 and the result
	// carries body_object instead of the body.
	ObjectStore string
	ObjectTTL   time.Duration
	MaxObject   int64 // above Fetch.MaxBody; 0 means httpfetch.DefaultMaxObject
	// Validators, if set, names a key-value bucket, created if absent with
	// ValidatorsTTL (0 means connectors.DefaultValidatorsTTL), that keeps
	// each GET's ETag, Last-Modified and body hash: later GETs of the same
	// request (httpfetch.ValidatorKey: poll scope, URL, headers, credential
	// name) are sent conditionally and results say whether they changed
	// (see httpfetch.Config.Validators).
	Validators    string
	ValidatorsTTL time.Duration
	// ValidatorsTimeout bounds each lookup in the bucket (0 means
	// httpfetch.DefaultValidatorTimeout): past it the GET goes out
	// unconditional, as changed.
	ValidatorsTimeout time.Duration
	// ValidatorsMaxBytes bounds a created bucket (0 means
	// connectors.DefaultValidatorsMaxBytes); when full, the oldest
	// values go first.
	ValidatorsMaxBytes int64
}

// OpsConfig is the operations HTTP endpoint.
type OpsConfig struct {
	// MetricsAddr serves /metrics, /healthz and /readyz; empty: off,
	// ":0" or "127.0.0.1:0": any free port (see Service.OpsAddr).
	MetricsAddr string
	Pprof       bool // also serve Go's runtime profiles under /debug/pprof/; needs MetricsAddr
}

// DefaultMaxHeldBytes is Fetch.MaxHeldBytes when no memory limit sizes
// it: with the other defaults, the service's peak RSS under the memory
// attack of docs/security.md stays well under 512 MiB.
const DefaultMaxHeldBytes = 32 << 20

// DefaultMaxBatchExpansion is Fetch.MaxBatchExpansion's default, 64 MiB:
// a batch of 10,000 URLs (the default MaxBatch) may send 6.5 KiB of
// headers with each, more than requests commonly carry, while 544 KB of
// default headers over 1,500 URLs (800 MB) is refused. What it admits is
// transient: a request's headers are merged as it is sent.
const DefaultMaxBatchExpansion = 64 << 20

// MaxPublishLinger caps Config.PublishLinger: it is meant to batch writes,
// not to hold results back.
const MaxPublishLinger = 100 * time.Millisecond

// Defaults returns the documented defaults: core NATS input on the wire's
// default subjects, an embedded server on 127.0.0.1:4222 when no URL is
// given, 64 requests in flight, a 10s timeout per attempt.
func Defaults() Config {
	return Config{
		NATS: NATSConfig{
			Listen:  "127.0.0.1:4222",
			DataDir: filepath.Join(os.TempDir(), "fetchstream", "jetstream"),
		},
		Subjects: SubjectsConfig{
			In: wire.DefaultInSubject, Out: wire.DefaultResultsSubject,
			Batches: wire.DefaultBatchesSubject, Micro: "fetchstream.fetch",
			Replies: []string{nats.InboxPrefix + ">"},
		},
		Core: CoreConfig{Queue: "fetchstream", PendingBatches: connectors.DefaultPendingBatches, PendingBytes: connectors.DefaultPendingBytes},
		JetStream: JetStreamConfig{
			Stream: connectors.DefaultStream, Durable: connectors.DefaultDurable,
			AckWait: connectors.DefaultAckWait, MaxDeliver: connectors.DefaultMaxDeliver,
			MaxAckPending: connectors.DefaultMaxAckPending, DeadLetter: wire.DefaultDeadLetterSubject,
			OutputRetryFor: connectors.DefaultOutputRetryFor,
		},
		Fetch: FetchConfig{
			Concurrency: 64, Timeout: 10 * time.Second, MaxTimeout: time.Minute,
			MaxBatch: 10000, MaxBatchExpansion: DefaultMaxBatchExpansion, Window: 256, MaxActive: 256,
			MaxWaiting: 256, MaxBatchTime: 15 * time.Minute, ReserveSlots: -1, MaxHeldBytes: DefaultMaxHeldBytes,
			MaxBody: 256 << 10, MaxRedirects: 10, BodyMode: "auto",
			UserAgent: "fetchstream", MaxRequestBody: httpfetch.DefaultMaxRequestBody,
			RetryBase: 200 * time.Millisecond, RetryMax: 5 * time.Second,
			PerHostBurst: 1, PerHostKey: "host", MaxHostPause: time.Minute, RobotsTTL: engine.DefaultRobotsTTL,
		},
		Storage: StorageConfig{
			Replicas: 1, ResultsMaxAge: connectors.DefaultResultsMaxAge, MaxObject: httpfetch.DefaultMaxObject,
		},
		ShutdownGrace:  30 * time.Second,
		StartupTimeout: connectors.DefaultSetupTimeout,
		PublishLinger:  500 * time.Microsecond,
	}
}
