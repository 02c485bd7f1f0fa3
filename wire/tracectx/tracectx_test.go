package tracectx_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/fetchstream/fetchstream/wire/tracectx"
)

const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestExtractInjectRoundTrip(t *testing.T) {
	sc := tracectx.Extract(nats.Header{"traceparent": {valid}, "tracestate": {"a=1,b=2"}})
	if !sc.IsValid() || !sc.IsRemote() || !sc.IsSampled() || sc.TraceState().String() != "a=1,b=2" {
		t.Fatalf("extracted %+v", sc)
	}
	h := tracectx.Inject(nil, sc)
	if h.Get("traceparent") != valid || h.Get("tracestate") != "a=1,b=2" {
		t.Errorf("injected %v", h)
	}
	if h := tracectx.Inject(nil, trace.SpanContext{}); h != nil {
		t.Errorf("an invalid context injected %v", h)
	}
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	if got := tracectx.InjectContext(ctx, nats.Header{"X": {"y"}}); got.Get("traceparent") != valid || got.Get("X") != "y" {
		t.Errorf("InjectContext: %v", got)
	}
}

// What a hostile publisher sends is ignored: the zero SpanContext, so a
// new trace starts, and nothing of it kept.
func TestExtractIgnoresHostileHeaders(t *testing.T) {
	var members []string
	for range 33 {
		members = append(members, "k=v")
	}
	for name, h := range map[string]nats.Header{
		"none":          nil,
		"empty":         {"traceparent": {""}},
		"not hex":       {"traceparent": {"00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},
		"upper case":    {"traceparent": {strings.ToUpper(valid)}},
		"zero trace":    {"traceparent": {"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}},
		"zero span":     {"traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"}},
		"version ff":    {"traceparent": {"ff" + valid[2:]}},
		"v0 with extra": {"traceparent": {valid + "-00"}},
		"oversized":     {"traceparent": {valid + strings.Repeat("x", 1<<20)}},
		"short":         {"traceparent": {valid[:20]}},
		"newline":       {"traceparent": {valid[:54] + "\n"}},
	} {
		if sc := tracectx.Extract(h); sc.IsValid() {
			t.Errorf("%s: extracted %v", name, sc)
		}
	}
	for name, state := range map[string]string{
		"over 32 members": strings.Join(members, ","),
		"over 4 KiB":      "k=" + strings.Repeat("v", tracectx.MaxTraceState),
		"bad key":         "K!=v",
	} {
		sc := tracectx.Extract(nats.Header{"traceparent": {valid}, "tracestate": {state}})
		if !sc.IsValid() || sc.TraceState().Len() != 0 {
			t.Errorf("%s: %v with tracestate %q, want the traceparent without it", name, sc.IsValid(), sc.TraceState())
		}
	}
}

// A header name in any case is found, as NATS headers keep their case.
func TestExtractAnyCase(t *testing.T) {
	sc := tracectx.Extract(nats.Header{"TraceParent": {valid}, "TRACESTATE": {"a=1"}})
	if !sc.IsValid() || sc.TraceState().String() != "a=1" {
		t.Errorf("extracted %+v", sc)
	}
}

func BenchmarkExtractNone(b *testing.B) {
	h := nats.Header{"Fetch-Batch-Id": {"b1"}}
	b.ReportAllocs()
	for b.Loop() {
		if tracectx.Extract(h).IsValid() {
			b.Fatal("valid")
		}
	}
}
