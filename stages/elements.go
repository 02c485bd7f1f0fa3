// Package stages holds the go-streams Flows between fetchstream's NATS
// source and sink, and the elements that travel between them:
//
//	Source ─*Inbound─▶ Decode ─*Job─▶ Fetch ─*Fetched,*Done─▶ Sink
//
// The sink encodes each *Fetched into an *Encoded on its own goroutine
// (Encoder.Encode, as connectors.PublisherConfig.Encode) before it
// publishes it: the service has no encode step between Fetch and the
// sink. NewEncode is the same work as a Flow of its own, for a sink that
// takes *Encoded. Decode and the Encoder are here; Fetch, the fetch
// engine, is package stages/engine, which imports this one for the
// elements. The pooled
// elements are owned here: the engine takes a *Fetched from NewFetched and
// Encode puts it back once encoded; Encode makes each *Encoded from its
// pool and the sink hands it back with Release once NATS is done with it.
//
// Every Flow closes its own output once its input is closed and its work is
// done, so closing the source drains the whole pipeline in order. Per-URL
// failures are values (a wire.Result with an Error kind), never stage errors.
// The sink counts each summary from what it published.
package stages

import (
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/fetchstream/fetchstream/wire"
)

// LifetimeFlag is how the messages of a batch's lifetime name the setting
// (engine.FetchConfig.MaxBatchTime, DecodeConfig.MaxBatchTime): the run flag.
const LifetimeFlag = "--max-batch-time"

// Settler settles an input message once its batch is done. Core NATS
// messages need nothing; JetStream messages are acked, or left for
// redelivery, by the sink. The sink calls Done once per batch, each batch
// from a goroutine of its own, so Done may block (dead-lettering waits for
// its publish) without holding up other batches.
type Settler interface {
	// Done is called once the batch is over: after its results and
	// summary are published, or, for a redeliverable batch cut short by a
	// shutdown, with nothing published. complete is false when some URLs
	// ended as canceled by a shutdown, so a redeliverable message should
	// be redelivered rather than acked. reject is non-nil when the message
	// itself is bad and must not be redelivered. A source may also call it
	// on a message it never emitted (to hand it back while draining).
	Done(complete bool, reject error) error
	// Redeliverable reports whether an unfinished batch will come again, so
	// that canceled results need not be published.
	Redeliverable() bool
}

// Inbound is one message from the input subject, as a source emits it.
type Inbound struct {
	Data     []byte
	HeaderID string // the Fetch-Batch-Id header, if any
	Reply    string // reply subject for request-reply; empty if none
	// ReplyStream asks for a streamed reply (see wire.HeaderReplyStream)
	// instead of one message with every result.
	ReplyStream bool
	Received    time.Time
	Settle      Settler // nil for messages that need no settling
	// Reject, when set, marks a message the source will not have fetched
	// (a JetStream batch on its last delivery): it is decoded only for its
	// id and count, and ends as a rejected job, with a summary, settled
	// with this as its reject.
	Reject *BatchError
	// Subject is the subject the batch arrived on (the micro endpoint's
	// for its requests): decode gives it to the fetcher as
	// wire.RequestOptions.Subject.
	Subject string
	// Trace is the W3C trace context the message's headers carried (see
	// wire/tracectx), the zero SpanContext when none was valid.
	Trace trace.SpanContext
}

// Job is a decoded batch on its way through the fetch stage. Err is set
// when the message was rejected (bad encoding, too many URLs); such a job
// is not fetched and ends as a Done with Summary.Error set.
type Job struct {
	ID string
	// Flow is what the job shares slots as: its correlation id, or its ID.
	Flow string
	// Requests are the batch's items, as it gave them (URLs alone, or
	// request objects); Options holds its defaults for them and its
	// response settings, shared by them all (nil: none).
	Requests []wire.Request
	Options  *wire.RequestOptions
	Timeout  time.Duration // per request, already capped by the service
	// Concurrency caps the job's requests in flight; 0 means no cap of its own.
	Concurrency int
	// Priority weighs the job's share of slots (see wire.Batch.Priority).
	Priority int
	// CorrelationID is echoed in its results and summary.
	CorrelationID string
	// PerHostRate lowers, for the job's flow, the stage's per-host rate
	// (requests per second; 0 means the stage's alone); Robots obeys robots.txt
	// for the job even when the stage does not (see FetchConfig).
	PerHostRate float64
	Robots      bool
	Reply       string
	ReplyStream bool // stream the reply: a message per result, then the summary
	Start       time.Time
	Settle      Settler
	Err         *BatchError
	// Span is the batch's CONSUMER span (see NewTraced), nil when tracing
	// is off; the sink ends it once the batch's summary is out. Trace is
	// what the batch's summary and results continue: Span's context, or,
	// with tracing off, the context the message came with (passed on as
	// it came), or the zero SpanContext.
	Span  trace.Span
	Trace trace.SpanContext
}

// BatchError is a batch-level rejection, reported in the summary.
type BatchError struct {
	Kind    wire.ErrorKind
	Message string
	Count   int
	// IDTruncated: the summary names the batch by the start of its id
	// (wire.Summary.IDTruncated).
	IDTruncated bool
}

func (e *BatchError) Error() string { return string(e.Kind) + ": " + e.Message }

// Fetched is one URL's result, emitted by Fetch in batch order.
type Fetched struct {
	Job    *Job
	Result wire.Result
	// Span is the id of the URL's span, when it had one (its trace is its
	// Job's); the zero SpanID means the result continues its Job's Trace.
	Span trace.SpanID

	pooled bool // made by the fetch stage, and not released since
}

// fetchedPool keeps the *Fetched the encode stage is done with, for the
// fetch stage's next results (see Fetched.release). This package owns it:
// the fetch engine takes from it (NewFetched), the encode stage puts back.
var fetchedPool sync.Pool

// NewFetched returns a *Fetched from the pool the encode stage fills once
// it has encoded one, or a new one. The fetch engine makes its results so,
// and keeps none it passed on.
func NewFetched() *Fetched {
	f, _ := fetchedPool.Get().(*Fetched)
	if f == nil {
		f = &Fetched{}
	}
	f.pooled = true
	return f
}

// release hands f back to the fetch stage once the encode stage, which
// took it from the fetch stage's output, has encoded its result and uses
// it no more. It does nothing for a Fetched the fetch stage did not make,
// or made and saw released.
func (f *Fetched) release() {
	if !f.pooled {
		return
	}
	*f = Fetched{}
	fetchedPool.Put(f)
}

// Encoded is a result as the JSON bytes the sink publishes. A sink may
// hand it back with Release once it is done with Data.
type Encoded struct {
	Job   *Job
	Index int // the result's index in its batch
	// Kind is the error kind of the result Data holds ("" for a success):
	// the sink counts the batch's summary (ok, failed, per error kind)
	// from it, without reading Data, so it must be the kind of what is
	// published, the unexpected_error of a result whose encoding panicked
	// included.
	Kind wire.ErrorKind
	Data []byte // the result's JSON
	// Changed says the result says "changed": true: the sink also
	// publishes it where changes go (connectors.PublisherConfig.Changes).
	Changed bool
	// Span is the id of the URL's span (Fetched.Span), or zero: see
	// TraceOf.
	Span trace.SpanID

	pooled bool // made by the encode stage, and not released since
}

// TraceOf is the trace context e's messages continue: its URL's span in
// its Job's trace, or, when it had none, its Job's Trace.
func TraceOf(e *Encoded) trace.SpanContext {
	if e.Span.IsValid() && e.Job.Trace.IsValid() {
		return e.Job.Trace.WithSpanID(e.Span)
	}
	return e.Job.Trace
}

// Rejected is the lone Done of a job that is not fetched (Err set, or no
// URLs): its summary names the batch and says why.
func Rejected(job *Job) *Done {
	s := wire.Summary{BatchID: job.ID, CorrelationID: job.CorrelationID,
		ElapsedMS: float64(time.Since(job.Start).Microseconds()) / 1000}
	if job.Err != nil {
		s.Error, s.Message, s.Count, s.IDTruncated = job.Err.Kind, job.Err.Message, job.Err.Count, job.Err.IDTruncated
	}
	return &Done{Job: job, Summary: s}
}

// Done follows a job's last result (or stands alone for a rejected job).
// Its Summary, as the fetch engine (or Rejected) makes it, holds what they
// know: ids, count, elapsed time, a batch-level error; its OK, Failed and
// Errors are zero until the sink counts them. Data is the encoded Summary, set by the sink once it has counted the
// summary from the results it published (see connectors.Publisher).
type Done struct {
	Job     *Job
	Summary wire.Summary
	Data    []byte
}
