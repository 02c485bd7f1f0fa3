package tracing_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/tracing"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/tracing/otlptest"
)

func TestEnabled(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"OTEL_SERVICE_NAME": "x"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true},
	} {
		got := tracing.Enabled(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		if got != c.want {
			t.Errorf("%v: enabled %v, want %v", c.env, got, c.want)
		}
	}
}

func TestFromEnvRefusesWhatItCannotExport(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"zipkin":              {"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
		"zipkin, no endpoint": {"OTEL_TRACES_EXPORTER": "zipkin"},
		"http/json":           {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
		"queue size":          {"OTEL_BSP_MAX_QUEUE_SIZE": "-1", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
		"endpoint, no scheme": {"OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4318"},
		"traces endpoint":     {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://c/v1/traces"},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range env {
				t.Setenv(k, v)
			}
			tp, err := tracing.FromEnv(t.Context())
			if !errors.Is(err, tracing.ErrConfig) || tp != nil {
				t.Errorf("got %v, %v; want an ErrConfig", tp, err)
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
		if tp, err := tracing.FromEnv(t.Context()); tp != nil || err != nil {
			t.Errorf("nothing set: %v, %v; want nil, nil", tp, err)
		}
	})
	t.Run("grpc", func(t *testing.T) {
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
		t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
		tp, err := tracing.FromEnv(t.Context())
		if err != nil || tp == nil || tp.Protocol != "grpc" {
			t.Fatalf("got %v, %v", tp, err)
		}
		_ = tp.Shutdown(t.Context())
	})
}

// stuckExporter holds every export until release is closed: a collector
// that is slow or gone.
type stuckExporter struct {
	*tracetest.InMemoryExporter
	release  chan struct{}
	exported atomic.Int64
}

func (s *stuckExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.exported.Add(int64(len(spans)))
	return s.InMemoryExporter.ExportSpans(ctx, spans)
}

// While the collector does not take spans, ending one never blocks: past
// the bound of spans waiting, spans are dropped and counted; the rest are
// exported once the collector takes them again.
func TestDropsCountedNeverBlocking(t *testing.T) {
	const bound, ended = 8, 2000
	exp := &stuckExporter{InMemoryExporter: tracetest.NewInMemoryExporter(), release: make(chan struct{})}
	tp := tracing.New(exp, nil, bound)
	tracer := tp.TracerProvider().Tracer("test")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ended {
			_, span := tracer.Start(context.Background(), "s")
			span.End()
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("ending spans blocked while the exporter was stuck")
	}
	close(exp.release)
	if err := tp.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	exported := exp.exported.Load()
	if tp.Dropped() < ended-bound-512 || exported+tp.Dropped() != ended || exported > bound+512 {
		t.Errorf("ended %d: exported %d, dropped %d (bound %d)", ended, exported, tp.Dropped(), bound)
	}
}

// A collector that refuses an export: its spans are counted as failed.
func TestExportFailuresCounted(t *testing.T) {
	receiver := otlptest.New(t)
	receiver.Refuse(http.StatusBadRequest) // not retried
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.URL)
	tp, err := tracing.FromEnv(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.TracerProvider().Tracer("test").Start(context.Background(), "s")
	span.End()
	_ = tp.Shutdown(t.Context())
	if tp.ExportFailed() != 1 || tp.Dropped() != 0 {
		t.Errorf("failed %d, dropped %d; want 1, 0", tp.ExportFailed(), tp.Dropped())
	}
}

// Spans are bounded in bytes: unless OTEL_SPAN_* say otherwise, an
// attribute value is cut to DefaultAttributeValueLength bytes and a span
// keeps DefaultEventCount events, whatever a hostile URL or server makes
// the service record; the variables, when set, win.
func TestSpanLimits(t *testing.T) {
	for _, c := range []struct {
		env               map[string]string
		wantLen, wantEvts int
	}{
		{nil, tracing.DefaultAttributeValueLength, tracing.DefaultEventCount},
		{map[string]string{"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "100", "OTEL_SPAN_EVENT_COUNT_LIMIT": "50"}, 100, 50},
		{map[string]string{"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "300"}, 300, tracing.DefaultEventCount},
	} {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		exp := keptExporter{tracetest.NewInMemoryExporter()}
		tp := tracing.New(exp, nil, 100)
		_, span := tp.TracerProvider().Tracer("test").Start(context.Background(), "s")
		span.SetAttributes(attribute.String("url.full", strings.Repeat("u", 10<<10)))
		for range 100 {
			span.AddEvent("redirect")
		}
		span.End()
		if err := tp.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		spans := exp.GetSpans()
		if len(spans) != 1 {
			t.Fatalf("%v: %d spans exported", c.env, len(spans))
		}
		if got := len(spans[0].Attributes[0].Value.AsString()); got != c.wantLen {
			t.Errorf("%v: attribute of %d bytes kept, want %d", c.env, got, c.wantLen)
		}
		if got := len(spans[0].Events); got != c.wantEvts {
			t.Errorf("%v: %d events kept, want %d", c.env, got, c.wantEvts)
		}
		for k := range c.env {
			_ = os.Unsetenv(k) // t.Setenv restores it at the end; the next case must not see it
		}
	}
}

// keptExporter keeps its spans past Shutdown, which the in-memory
// exporter's own Shutdown forgets.
type keptExporter struct{ *tracetest.InMemoryExporter }

func (keptExporter) Shutdown(context.Context) error { return nil }
