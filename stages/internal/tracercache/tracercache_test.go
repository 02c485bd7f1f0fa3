package tracercache_test

import (
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fetchstream/fetchstream/stages/internal/tracercache"
)

// countingProvider counts the tracers asked of it; a map field makes its
// type impossible to compare, as a provider's type may be.
type countingProvider struct {
	noop.TracerProvider
	asked map[string]int
}

func (p countingProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	p.asked[name]++
	return p.TracerProvider.Tracer(name, opts...)
}

func TestTracerKeptPerProvider(t *testing.T) {
	c := tracercache.New("scope")
	a, b := sdktrace.NewTracerProvider(), sdktrace.NewTracerProvider()
	ta := c.Tracer(a)
	if c.Tracer(a) != ta {
		t.Error("the same provider gave another tracer")
	}
	if tb := c.Tracer(b); tb == ta || c.Tracer(b) != tb {
		t.Error("a second provider: not its own tracer, or not kept")
	}
	p := countingProvider{asked: map[string]int{}}
	for range 3 {
		c.Tracer(p) // must not panic comparing it
	}
	if p.asked["scope"] != 3 {
		t.Errorf("a provider that cannot be compared was asked %d times, want 3", p.asked["scope"])
	}
	if c.Tracer(a) == nil {
		t.Error("no tracer after a provider that cannot be compared")
	}
}
