package tracectx_test

import (
	"context"
	"fmt"
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
		"repeated":      {"traceparent": {valid, valid}},
		"two cases":     {"traceparent": {valid}, "Traceparent": {valid}},
	} {
		if sc := tracectx.Extract(h); sc.IsValid() {
			t.Errorf("%s: extracted %v", name, sc)
		}
	}
	for name, state := range map[string]string{
		"over 32 members": strings.Join(members, ","),
		"over 4 KiB":      "k=" + strings.Repeat("v", tracectx.MaxTraceStateRead),
		"bad key":         "K!=v",
	} {
		sc := tracectx.Extract(nats.Header{"traceparent": {valid}, "tracestate": {state}})
		if !sc.IsValid() || sc.TraceState().Len() != 0 {
			t.Errorf("%s: %v with tracestate %q, want the traceparent without it", name, sc.IsValid(), sc.TraceState())
		}
	}
}

// A tracestate over MaxTraceState bytes is cut as W3C describes, whole
// members at a time from the end, those over 128 bytes first; what
// Inject writes of it stays within MaxHeaderBytes.
func TestExtractCapsTraceState(t *testing.T) {
	var long, mixed []string
	for i := range 32 {
		long = append(long, fmt.Sprintf("k%02d=%s", i, strings.Repeat("v", 100)))
		if i%4 == 0 {
			mixed = append(mixed, fmt.Sprintf("big%02d=%s", i, strings.Repeat("b", 200)))
		} else {
			mixed = append(mixed, fmt.Sprintf("s%02d=%s", i, strings.Repeat("s", 10)))
		}
	}
	var small []string
	for _, m := range mixed {
		if !strings.HasPrefix(m, "big") {
			small = append(small, m)
		}
	}
	var biggest []string // 32 members of the longest keys and values W3C allows
	for i := range 32 {
		biggest = append(biggest, fmt.Sprintf("k%03d%s=%s", i, strings.Repeat("k", 252), strings.Repeat("v", 256)))
	}
	for name, c := range map[string]struct{ in, want string }{
		"fits":              {"a=1,b=2", "a=1,b=2"},
		"from the end":      {strings.Join(long, ","), strings.Join(long[:4], ",")},
		"long ones first":   {strings.Join(mixed, ","), strings.Join(small, ",")},
		"all over 128":      {strings.Join(biggest[:7], ","), ""},
		"exactly 512 bytes": {"k=" + strings.Repeat("v", 255) + ",l=" + strings.Repeat("v", 252), "k=" + strings.Repeat("v", 255) + ",l=" + strings.Repeat("v", 252)},
		"513 bytes":         {"k=" + strings.Repeat("v", 255) + ",l=" + strings.Repeat("v", 253), "k=" + strings.Repeat("v", 255)},
	} {
		if _, err := trace.ParseTraceState(c.in); err != nil || len(c.in) > tracectx.MaxTraceStateRead {
			t.Fatalf("%s: a tracestate of %d bytes that is not kept whole (%v): the test proves nothing", name, len(c.in), err)
		}
		sc := tracectx.Extract(nats.Header{"traceparent": {valid}, "tracestate": {c.in}})
		if !sc.IsValid() {
			t.Fatalf("%s: traceparent lost", name)
		}
		got := sc.TraceState().String()
		if got != c.want {
			t.Errorf("%s: tracestate of %d bytes cut to %d bytes %.60q..., want %d bytes %.60q...", name, len(c.in), len(got), got, len(c.want), c.want)
		}
		if len(got) > tracectx.MaxTraceState {
			t.Errorf("%s: %d bytes kept, over %d", name, len(got), tracectx.MaxTraceState)
		}
		lines := 0
		for k, vs := range tracectx.Inject(nil, sc) {
			for _, v := range vs {
				lines += len(k) + len(": ") + len(v) + len("\r\n")
			}
		}
		if lines > tracectx.MaxHeaderBytes {
			t.Errorf("%s: Inject wrote %d header bytes, over MaxHeaderBytes %d", name, lines, tracectx.MaxHeaderBytes)
		}
	}
}

// A tracestate given more than once is one list, as W3C says, and read
// within the same bound: its values joined.
func TestExtractJoinsRepeatedTraceState(t *testing.T) {
	sc := tracectx.Extract(nats.Header{"traceparent": {valid}, "tracestate": {"a=1", "b=2"}})
	if sc.TraceState().String() != "a=1,b=2" {
		t.Errorf("tracestate %q, want a=1,b=2", sc.TraceState())
	}
	var a, b []string // 16 members each, valid together, together over the bound
	for i := range 16 {
		a = append(a, fmt.Sprintf("a%02d=%s", i, strings.Repeat("v", 130)))
		b = append(b, fmt.Sprintf("b%02d=%s", i, strings.Repeat("v", 130)))
	}
	half1, half2 := strings.Join(a, ","), strings.Join(b, ",")
	if len(half1) > tracectx.MaxTraceStateRead || len(half1)+len(half2)+1 <= tracectx.MaxTraceStateRead {
		t.Fatalf("halves of %d bytes: the test proves nothing", len(half1))
	}
	sc = tracectx.Extract(nats.Header{"traceparent": {valid}, "tracestate": {half1, half2}})
	if !sc.IsValid() || sc.TraceState().Len() != 0 {
		t.Errorf("two halves over %d bytes: %v, tracestate of %d members; want the traceparent alone",
			tracectx.MaxTraceStateRead, sc.IsValid(), sc.TraceState().Len())
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

// What a result message costs when its batch's traceparent is passed on
// (tracing off, or on): Inject into a result without other headers makes
// the header map and writes the traceparent.
func BenchmarkInjectPassedOn(b *testing.B) {
	sc := tracectx.Extract(nats.Header{"traceparent": {valid}})
	b.ReportAllocs()
	for b.Loop() {
		if tracectx.Inject(nil, sc) == nil {
			b.Fatal("nothing injected")
		}
	}
}
