// Package tracectx carries W3C trace context (the traceparent and
// tracestate headers) in NATS message headers, with the standard
// propagator of OpenTelemetry (propagation.TraceContext). nats.go has no
// hook for it, so the service and the Go client read and write the headers
// here, one header map at a time: nothing is global, no propagator is
// installed, and a header that is not valid W3C trace context is ignored
// (Extract returns the zero SpanContext: a new trace starts).
//
// Bounds: a traceparent is parsed only in its fixed W3C form; a
// tracestate longer than MaxTraceStateRead bytes is dropped before it is
// parsed, and one that parses (at most 32 members) is cut to
// MaxTraceState bytes, whole members at a time, as W3C describes. So
// what Inject echoes of a hostile publisher's trace context adds at most
// MaxHeaderBytes to a message's headers.
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

// MaxTraceState is the longest tracestate Extract keeps, in bytes: the
// 512 that W3C asks every vendor to propagate. A longer one loses whole
// members, from the end, until it fits: first those over 128 bytes.
const MaxTraceState = 512

// MaxTraceStateRead is the longest tracestate header read, in bytes; a
// longer one is ignored whole, before it is parsed.
const MaxTraceStateRead = 4096

// traceParentLen is the length of the version-00 traceparent that Inject
// writes: 00-<32 hex>-<16 hex>-<2 hex>.
const traceParentLen = 55

// MaxHeaderBytes is the most Inject adds to a NATS message's header
// block: a traceparent line and a tracestate line of MaxTraceState
// bytes, each "name: value\r\n" as nats.go writes it.
const MaxHeaderBytes = len(HeaderTraceParent) + len(": ") + traceParentLen + len("\r\n") +
	len(HeaderTraceState) + len(": ") + MaxTraceState + len("\r\n")

// memberCutFirst is the size past which W3C asks that a member be
// dropped first when a tracestate must be cut.
const memberCutFirst = 128

var propagator propagation.TraceContext

// Carrier is a propagation.TextMapCarrier over a NATS header map. Get
// finds a name whatever case the publisher gave it; Set replaces the
// values of the exact name.
type Carrier nats.Header

var _ propagation.TextMapCarrier = Carrier(nil)

// Get returns the value of key, matched case-insensitively, or "". As
// W3C says, a traceparent (or any other key) given more than once reads
// as "", and tracestate values given more than once are one list, joined
// with ","; a tracestate over MaxTraceStateRead bytes reads as "".
func (c Carrier) Get(key string) string {
	isState := strings.EqualFold(key, HeaderTraceState)
	var first string
	var joined []string // the values of a tracestate given more than once
	n, size := 0, 0
	for k, vs := range c {
		if !strings.EqualFold(k, key) {
			continue
		}
		for _, v := range vs {
			n++
			size += len(v) + len(",")
			switch {
			case n > 1 && !isState:
				return ""
			case isState && size > MaxTraceStateRead+len(","):
				return ""
			case n == 1:
				first = v
			case n == 2:
				joined = append(joined, first, v)
			default:
				joined = append(joined, v)
			}
		}
	}
	if joined != nil {
		return strings.Join(joined, ",")
	}
	return first
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
// SpanContext when h holds none that is valid. Its tracestate is at most
// MaxTraceState bytes (see CapTraceState). It allocates nothing when h
// has no traceparent.
func Extract(h nats.Header) trace.SpanContext {
	if len(h) == 0 {
		return trace.SpanContext{}
	}
	c := Carrier(h)
	if c.Get(HeaderTraceParent) == "" {
		return trace.SpanContext{}
	}
	sc := trace.SpanContextFromContext(propagator.Extract(context.Background(), c))
	if sc.TraceState().Len() > 0 {
		sc = sc.WithTraceState(CapTraceState(sc.TraceState()))
	}
	return sc
}

// CapTraceState returns ts cut to at most MaxTraceState bytes, as W3C
// describes: members over 128 bytes are dropped first, then the others,
// each from the end (the oldest first), until what is left fits. The
// members kept keep their order.
func CapTraceState(ts trace.TraceState) trace.TraceState {
	size := len(ts.String())
	if size <= MaxTraceState {
		return ts
	}
	type member struct {
		key, value string
		dropped    bool
	}
	var members []member
	ts.Walk(func(key, value string) bool {
		members = append(members, member{key: key, value: value})
		return true
	})
	drop := func(m *member) { // keys are unique in a tracestate that parsed
		ts = ts.Delete(m.key)
		m.dropped = true
		size -= len(m.key) + len("=") + len(m.value) + len(",")
	}
	for i := len(members) - 1; i >= 0 && size > MaxTraceState; i-- {
		if len(members[i].key)+len("=")+len(members[i].value) > memberCutFirst {
			drop(&members[i])
		}
	}
	for i := len(members) - 1; i >= 0 && size > MaxTraceState; i-- {
		if !members[i].dropped {
			drop(&members[i])
		}
	}
	return ts
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
