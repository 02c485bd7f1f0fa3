package engine

// A URL's INTERNAL span: from when its lane began to wait for its host
// (or when it was granted a slot, if it did not wait) to its result, a
// child of its batch's CONSUMER span (stages.Job.Span). Its waits are
// events: the wait for the host's gates (cap, pace, pause, robots.txt)
// and the slot it was granted; the fetcher adds its own (a retry's
// backoff) and a CLIENT span per attempt under it. A batch whose span
// does not record (tracing off, or not sampled) costs nothing here.

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/internal/tracercache"
	"github.com/fetchstream/fetchstream/wire"
)

// urlTracers keeps the tracer of the batches' provider for the URLs' spans.
var urlTracers = tracercache.New(stages.TracerName)

// startURLSpan starts the span of index i of job, granted now after
// waiting hostWait for its host, and returns ctx with it; a nil span
// when job's span does not record. A retry handed back and resumed
// (resumed) gets a span of its own for what is left.
func startURLSpan(ctx context.Context, job *stages.Job, i int, hostWait time.Duration, resumed bool) (context.Context, trace.Span) {
	parent := job.Span
	if parent == nil || !parent.IsRecording() {
		return ctx, nil
	}
	now := time.Now()
	start := now.Add(-hostWait)
	ctx, span := urlTracers.Tracer(parent.TracerProvider()).Start(trace.ContextWithSpan(ctx, parent), "fetch url",
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithTimestamp(start), trace.WithAttributes(
			attribute.String("fetchstream.batch.id", job.ID),
			attribute.Int("fetchstream.url.index", i),
		))
	if resumed {
		span.SetAttributes(attribute.Bool("fetchstream.url.resumed", true))
	}
	if hostWait > 0 {
		span.AddEvent("host wait", trace.WithTimestamp(start), trace.WithAttributes(
			attribute.String("fetchstream.wait.reason", "host gates: per-host cap, pace, pause or robots.txt")))
		span.AddEvent("host gates passed", trace.WithTimestamp(now), trace.WithAttributes(
			attribute.Float64("fetchstream.host_wait_ms", durationMS(hostWait))))
	}
	span.AddEvent("slot granted", trace.WithTimestamp(now), trace.WithAttributes(
		attribute.Float64("fetchstream.since_batch_start_ms", durationMS(now.Sub(job.Start)))))
	return ctx, span
}

// endURLSpan ends span with r, the URL's result: its error kind as
// error.type; deferred says the URL's retry was handed back to wait for
// its host (its result is not its last).
func endURLSpan(span trace.Span, r *wire.Result, deferred bool) {
	if span == nil {
		return
	}
	switch {
	case deferred:
		span.AddEvent("retry handed back to wait for the host's pause")
	case r.Error != "":
		span.SetAttributes(attribute.String("error.type", string(r.Error)))
		span.SetStatus(codes.Error, string(r.Error))
	}
	if r.Attempts > 0 {
		span.SetAttributes(attribute.Int("fetchstream.url.attempts", r.Attempts))
	}
	span.End()
}
