package stages

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/fetchstream/fetchstream/wire"
)

// Decode starts a batch's CONSUMER span under the message's trace
// context, and EndBatchSpan ends it with the summary; a batch refused
// whole says why in error.type. Without a tracer, the message's context
// is passed on and no span is made.
func TestBatchSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{8},
		TraceFlags: trace.FlagsSampled, Remote: true})
	cfg := DecodeConfig{MaxBatch: 10, DefaultTimeout: time.Second, MaxTimeout: time.Second, Tracer: tp.Tracer("test")}

	ok := cfg.decode(&Inbound{Data: []byte(`{"id": "b1", "urls": ["http://a/", "http://b/"]}`), Subject: "fetch.urls", Trace: parent})
	bad := cfg.decode(&Inbound{Data: []byte(`{"urls": 7}`), Subject: "fetch.urls"})
	EndBatchSpan(ok, &wire.Summary{OK: 1, Failed: 1})
	EndBatchSpan(bad, &Rejected(bad).Summary)
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	attrs := func(s tracetest.SpanStub) map[attribute.Key]string {
		m := map[attribute.Key]string{}
		for _, kv := range s.Attributes {
			m[kv.Key] = kv.Value.Emit()
		}
		return m
	}
	a := attrs(spans[0])
	if spans[0].SpanKind != trace.SpanKindConsumer || spans[0].Parent.SpanID() != parent.SpanID() ||
		spans[0].SpanContext.TraceID() != parent.TraceID() || !ok.Trace.Equal(spans[0].SpanContext) ||
		a["messaging.system"] != "nats" || a["messaging.destination.name"] != "fetch.urls" ||
		a["messaging.message.id"] != "b1" || a["messaging.batch.message_count"] != "2" || a["fetchstream.batch.failed"] != "1" {
		t.Errorf("batch span: %+v %v", spans[0], a)
	}
	if b := attrs(spans[1]); spans[1].Parent.IsValid() || b["error.type"] != string(wire.ErrInvalidBatch) {
		t.Errorf("refused batch's span: parent %v, %v", spans[1].Parent, b)
	}

	off := DecodeConfig{MaxBatch: 10, DefaultTimeout: time.Second, MaxTimeout: time.Second}
	job := off.decode(&Inbound{Data: []byte(`["http://a/"]`), Trace: parent})
	if job.Span != nil || !job.Trace.Equal(parent) {
		t.Errorf("tracing off: span %v, trace %v; want none, the message's passed on", job.Span, job.Trace)
	}
	EndBatchSpan(job, &wire.Summary{}) // no span: nothing to end
}
