package stages

// A batch's CONSUMER span, as OpenTelemetry's messaging conventions name
// it: started by Decode, parented by the trace context the message came
// with, ended by the sink once the batch's summary is out (EndBatchSpan).

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/fetchstream/fetchstream/wire"
)

// TracerName is the instrumentation scope of fetchstream's spans.
const TracerName = "github.com/fetchstream/fetchstream"

// startBatchSpan starts job's CONSUMER span with tracer, as a child of
// the message's trace context (a new root when it had none), at the time
// the message arrived, and sets job.Span and job.Trace. With no tracer,
// job.Trace is the message's context, passed on as it came, and nothing
// is allocated.
func startBatchSpan(tracer trace.Tracer, in *Inbound, job *Job, urls int) {
	if tracer == nil {
		job.Trace = in.Trace
		return
	}
	ctx := context.Background()
	if in.Trace.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, in.Trace)
	}
	subject := in.Subject
	_, span := tracer.Start(ctx, "process "+subject, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithTimestamp(job.Start), trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.name", "process"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", job.ID),
			attribute.Int("messaging.message.body.size", len(in.Data)),
			attribute.Int("messaging.batch.message_count", urls),
			attribute.String("fetchstream.batch.id", job.ID),
		))
	if job.CorrelationID != "" {
		span.SetAttributes(attribute.String("messaging.message.conversation_id", job.CorrelationID))
	}
	job.Span, job.Trace = span, span.SpanContext()
}

// EndBatchSpan ends job's span, if it has one, with what its summary
// says: the counts, and a batch-level error as the span's error.type and
// status. The sink calls it once per batch.
func EndBatchSpan(job *Job, s *wire.Summary) {
	if job.Span == nil {
		return
	}
	span := job.Span
	span.SetAttributes(attribute.Int("fetchstream.batch.ok", s.OK), attribute.Int("fetchstream.batch.failed", s.Failed))
	if s.Error != "" {
		span.SetAttributes(attribute.String("error.type", string(s.Error)))
		span.SetStatus(codes.Error, string(s.Error))
	}
	span.End()
}
