// Package tracectx carries W3C trace context (the traceparent and
// tracestate headers) in NATS message headers, with the standard
// propagator of OpenTelemetry (propagation.TraceContext). nats.go has no
// hook for it, so the service and the Go client read and write the headers
// here, one header map at a time: nothing is global, no propagator is
// installed, and a header that is not valid W3C trace context is ignored
// (Extract returns the zero SpanContext: a new trace starts).
//
// Bounds: a traceparent is parsed only in its fixed W3C form, and a
// tracestate longer than MaxTraceState bytes is dropped before it is
// parsed; what the propagator keeps of one is at most 32 members of
// bounded keys and values, so a hostile publisher cannot make its trace
// context grow what the service echoes on its results.
package tracectx

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The W3C header names, as the propagator writes them.
const (
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
)

// MaxTraceState is the longest tracestate header read, in bytes; a longer
// one is ignored (W3C asks that at least 512 be propagated).
const MaxTraceState = 4096

var propagator propagation.TraceContext

// Carrier is a propagation.TextMapCarrier over a NATS header map. Get
// finds a name whatever case the publisher gave it, and reads its first
// value; Set replaces the values of the exact name.
type Carrier nats.Header

var _ propagation.TextMapCarrier = Carrier(nil)

// Get returns the first value of key, matched case-insensitively, or "".
// A tracestate over MaxTraceState bytes reads as "".
func (c Carrier) Get(key string) string {
	v := nats.Header(c).Get(key)
	if v == "" {
		for k, vs := range c {
			if strings.EqualFold(k, key) && len(vs) > 0 {
				v = vs[0]
				break
			}
		}
	}
	if strings.EqualFold(key, HeaderTraceState) && len(v) > MaxTraceState {
		return ""
	}
	return v
}

// Set sets key to value alone.
func (c Carrier) Set(key, value string) { c[key] = []string{value} }

// Keys lists the names in the map.
func (c Carrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Extract returns the trace context h holds, marked remote, or the zero
// SpanContext when h holds none that is valid. It allocates nothing when
// h has no traceparent.
func Extract(h nats.Header) trace.SpanContext {
	if len(h) == 0 {
		return trace.SpanContext{}
	}
	c := Carrier(h)
	if c.Get(HeaderTraceParent) == "" {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(propagator.Extract(context.Background(), c))
}

// Inject writes sc into h as traceparent (and tracestate when sc has one)
// and returns h, made when it was nil. An invalid sc writes nothing and
// returns h as it was.
func Inject(h nats.Header, sc trace.SpanContext) nats.Header {
	if !sc.IsValid() {
		return h
	}
	if h == nil {
		h = nats.Header{}
	}
	propagator.Inject(trace.ContextWithSpanContext(context.Background(), sc), Carrier(h))
	return h
}

// InjectContext writes the span context of ctx into h, as Inject does.
func InjectContext(ctx context.Context, h nats.Header) nats.Header {
	return Inject(h, trace.SpanContextFromContext(ctx))
}
