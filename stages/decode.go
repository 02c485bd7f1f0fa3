package stages

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nuid"
	"github.com/reugn/go-streams/flow"
	"go.opentelemetry.io/otel/trace"

	"github.com/fetchstream/fetchstream/stages/polite"
	"github.com/fetchstream/fetchstream/wire"
)

// DecodeConfig bounds what Decode accepts.
type DecodeConfig struct {
	MaxBatch       int           // most URLs in one batch; larger batches are rejected whole
	DefaultTimeout time.Duration // per request, when the batch names none
	MaxTimeout     time.Duration // a batch's timeout_ms is capped at this; at least DefaultTimeout
	// MaxBatchTime is the fetch stage's batch lifetime (0 means none; else at
	// least MaxTimeout, so that a batch outlives its longest request): a batch
	// whose own per_host_rate could not fetch its URLs to one host (keyed
	// as PerHostKey says) within it is refused at once as invalid_batch.
	MaxBatchTime time.Duration
	PerHostKey   polite.HostKeyMode // as engine.FetchConfig.PerHostKey: "" is polite.HostKeyHost
	// MaxExpansion bounds a batch's wire.Batch.Expansion: the bytes of
	// headers and bodies its requests hold once its defaults are merged
	// into each. A batch over it is rejected whole (invalid_batch),
	// before any work; 0 is no bound. ExpansionSetting names the setting
	// in that message (e.g. "--max-batch-expansion").
	MaxExpansion     int64
	ExpansionSetting string
	// Tracer, if set, starts each batch's CONSUMER span (see Job.Span);
	// nil turns tracing off: a batch's trace context is passed on to its
	// results and summary as it came, and nothing else is done.
	Tracer trace.Tracer
}

// ErrConfig is wrapped by the errors of stage constructors.
var ErrConfig = errors.New("invalid stage configuration")

// Validate reports the first field of c that NewDecode would refuse, as
// a *wire.ConfigError naming it (wrapping ErrConfig), or nil.
func (c DecodeConfig) Validate() error {
	fail := func(field, format string, args ...any) error {
		return wire.NewConfigError(ErrConfig, field, format, args...)
	}
	switch {
	case c.MaxBatch < 1:
		return fail("MaxBatch", "must be at least 1, got %d", c.MaxBatch)
	case c.DefaultTimeout <= 0:
		return fail("DefaultTimeout", "must be positive, got %s", c.DefaultTimeout)
	case c.MaxTimeout < c.DefaultTimeout:
		return fail("MaxTimeout", "(%s) must not be below DefaultTimeout (%s)", c.MaxTimeout, c.DefaultTimeout)
	case c.MaxBatchTime < 0:
		return fail("MaxBatchTime", "must not be negative (0 means none), got %s", c.MaxBatchTime)
	case c.MaxBatchTime > 0 && c.MaxBatchTime < c.MaxTimeout:
		return fail("MaxBatchTime", "(%s) must be at least MaxTimeout (%s): a batch must outlive its longest request",
			c.MaxBatchTime, c.MaxTimeout)
	case c.MaxExpansion < 0:
		return fail("MaxExpansion", "must not be negative (0 means no bound), got %d", c.MaxExpansion)
	}
	if _, err := polite.ParseHostKeyMode(string(c.PerHostKey)); err != nil {
		return fail("PerHostKey", "must be host or domain, got %q", c.PerHostKey)
	}
	return nil
}

// NewDecode returns the Flow that turns each *Inbound into a *Job, one out
// for one in, in arrival order (a go-streams Map of parallelism 1). A
// message that cannot be decoded, holds more than MaxBatch URLs, expands
// past MaxExpansion, or whose own per_host_rate could not finish it
// within MaxBatchTime (see paceProblem) becomes a Job with Err set, so
// the rest of the pipeline reports it and moves on;
// so does an Inbound the source marked Reject. A rejected job is named as
// the batch was sent (see wire.Summary).
// The Flow closes its output after its input is closed.
func NewDecode(cfg DecodeConfig) (*flow.Map[*Inbound, *Job], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return flow.NewMap(cfg.decode, 1), nil
}

func (c DecodeConfig) decode(in *Inbound) *Job {
	job := &Job{Reply: in.Reply, ReplyStream: in.Reply != "" && in.ReplyStream, Start: in.Received, Settle: in.Settle}
	if job.Start.IsZero() {
		job.Start = time.Now()
	}
	b, err := wire.DecodeBatch(in.Data, in.HeaderID)
	var idCut, corrCut bool
	switch {
	case b.ID == "":
		job.ID = nuid.Next()
	case err != nil:
		// Named as it was sent (the id may be what was wrong with it), so
		// the client can match the summary: see wire.Summary.
		job.ID, idCut = wire.EchoedID(b.ID)
	default:
		job.ID = b.ID
	}
	job.CorrelationID = b.CorrelationID
	if err != nil {
		job.CorrelationID, corrCut = wire.EchoedID(b.CorrelationID)
	}
	job.Flow = job.ID
	if b.CorrelationID != "" {
		job.Flow = b.CorrelationID
	}
	var slow string // only a batch with a pace of its own pays for this
	if err == nil && b.PerHostRate > 0 && c.MaxBatchTime > 0 && len(b.URLs) <= c.MaxBatch {
		slow = paceProblem(b.URLs, b.PerHostRate, c.timeout(b.TimeoutMS), c.MaxBatchTime, c.PerHostKey)
	}
	switch {
	case in.Reject != nil:
		e := *in.Reject
		e.Count = len(b.URLs) // what is known of a batch that did not decode too
		e.IDTruncated = idCut || corrCut
		job.Err = &e
	case err != nil:
		// The kind says invalid_batch: the message does not say it again.
		msg := strings.TrimPrefix(err.Error(), wire.ErrBadBatch.Error()+": ")
		if idCut || corrCut {
			msg += fmt.Sprintf(" (the summary names it by its first %d bytes)", wire.MaxIDLength)
		}
		// Count is the URLs the batch was decoded with before what was
		// wrong was found (0 when it did not decode at all).
		job.Err = &BatchError{Kind: wire.ErrInvalidBatch, Count: len(b.URLs), Message: msg, IDTruncated: idCut || corrCut}
	case len(b.URLs) > c.MaxBatch:
		job.Err = &BatchError{Kind: wire.ErrBatchTooLarge, Count: len(b.URLs),
			Message: fmt.Sprintf("batch of %d URLs is over the maximum of %d: split it", len(b.URLs), c.MaxBatch)}
	case c.MaxExpansion > 0 && b.Expansion() > c.MaxExpansion:
		job.Err = &BatchError{Kind: wire.ErrInvalidBatch, Count: len(b.URLs), Message: fmt.Sprintf(
			"batch expands to %d bytes of headers and bodies over its %d requests (its default headers go with each), over the maximum of %d (%s): send fewer or smaller default headers, or split it",
			b.Expansion(), len(b.URLs), c.MaxExpansion, c.setting())}
	case slow != "":
		job.Err = &BatchError{Kind: wire.ErrInvalidBatch, Count: len(b.URLs), Message: slow}
	default:
		b.Subject = in.Subject
		job.Requests, job.Options = b.URLs, &b.RequestOptions
		job.Timeout = c.timeout(b.TimeoutMS)
		job.Concurrency = b.Concurrency
		job.PerHostRate, job.Robots = b.PerHostRate, b.Robots
		if b.Priority != nil {
			job.Priority = *b.Priority
		} else if in.Reply != "" {
			job.Priority = 1 // someone is waiting on a request-reply batch
		}
	}
	startBatchSpan(c.Tracer, in, job, len(b.URLs))
	return job
}

func (c DecodeConfig) setting() string {
	if c.ExpansionSetting == "" {
		return "the service's maximum batch expansion"
	}
	return c.ExpansionSetting
}

// timeout is the batch's timeout_ms capped at MaxTimeout, or the default.
func (c DecodeConfig) timeout(ms int64) time.Duration {
	if ms <= 0 {
		return c.DefaultTimeout
	}
	if ms > c.MaxTimeout.Milliseconds() {
		return c.MaxTimeout
	}
	return time.Duration(ms) * time.Millisecond
}
