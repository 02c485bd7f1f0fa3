package client_test

import (
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/client"
	"github.com/fetchstream/fetchstream/wire/tracectx"
)

// Publish puts the caller's trace context in each batch's headers, split
// batches too, and each streamed Result holds the one its message
// carried: here, through the real service with tracing off, the
// caller's own context passed on as it came.
func TestPublishCarriesTheCallersTrace(t *testing.T) {
	ns, nc := natstest.Start(t)
	stop, err := startService(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	target, stopTarget := startTarget()
	t.Cleanup(stopTarget)
	seen := make(chan nats.Header, 8)
	if _, err := nc.Subscribe(wire.DefaultInSubject, func(m *nats.Msg) { seen <- m.Header }); err != nil {
		t.Fatal(err)
	}

	caller := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6},
		TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(deadline(t), caller)
	c := newClient(t, nc, client.WithMaxBatch(1))
	s, err := c.Publish(ctx, wire.Batch{ID: "traced", URLs: wire.URLs(target+"/text", target+"/status/404")})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for r, err := range s.Results(deadline(t)) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Trace.TraceID() != caller.TraceID() || r.Trace.SpanID() != caller.SpanID() {
			t.Errorf("result %d: trace %v, want the caller's %v passed on", r.Position, r.Trace, caller)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d results, want 2", n)
	}
	for range 2 {
		if sc := tracectx.Extract(<-seen); sc.TraceID() != caller.TraceID() || sc.SpanID() != caller.SpanID() {
			t.Errorf("a batch published with trace %v, want the caller's %v", sc, caller)
		}
	}
}
