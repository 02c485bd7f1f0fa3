package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
)

// runTraced runs batches of size URLs through the fetch stage with an
// instant fetcher, each batch's span started by tracer (nil: tracing
// off), and returns the results' trace contexts.
func runTraced(tb testing.TB, tracer trace.Tracer, batches, size int) []trace.SpanContext {
	stage, err := NewFetch(tb.Context(), instantFetcher{}, FetchConfig{Concurrency: 64, Window: 256, MaxActive: 256})
	if err != nil {
		tb.Fatal(err)
	}
	urls := make([]string, size)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://h%d.example.com/x", i%16)
	}
	out := make(chan []trace.SpanContext)
	go func() {
		var got []trace.SpanContext
		for element := range stage.Out() {
			if f, ok := element.(*stages.Fetched); ok {
				got = append(got, f.Job.Trace.WithSpanID(f.Span))
			}
		}
		out <- got
	}()
	for i := range batches {
		job := &stages.Job{ID: fmt.Sprint(i), Flow: fmt.Sprint(i), Requests: wire.URLs(urls...), Timeout: time.Second, Start: time.Now()}
		if tracer != nil {
			_, job.Span = tracer.Start(context.Background(), "process")
			job.Trace = job.Span.SpanContext()
		}
		stage.In() <- job
	}
	close(stage.In())
	return <-out
}

// A recording batch span gets a child span per URL, whose context its
// result carries; a batch without one gets none, and its results carry
// nothing of their own.
func TestURLSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	got := runTraced(t, tp.Tracer("test"), 2, 5)
	spans := exp.GetSpans()
	if len(got) != 10 || len(spans) != 10 {
		t.Fatalf("%d results, %d spans; want 10 and 10", len(got), len(spans))
	}
	ids := map[trace.SpanID]bool{}
	for _, s := range spans {
		ids[s.SpanContext.SpanID()] = true
		if s.Name != "fetch url" || s.SpanKind != trace.SpanKindInternal || !s.Parent.IsValid() || len(s.Events) == 0 {
			t.Errorf("span %s kind %v parent %v events %v", s.Name, s.SpanKind, s.Parent, s.Events)
		}
	}
	for i, sc := range got {
		if !ids[sc.SpanID()] {
			t.Errorf("result %d carries %v, no URL span's", i, sc)
		}
	}
	for i, sc := range runTraced(t, nil, 1, 5) {
		if sc.SpanID().IsValid() {
			t.Errorf("untraced result %d carries %v", i, sc)
		}
	}
}

// BenchmarkFetchStageTraced is BenchmarkFetchStage/batch=100 with each
// batch's span recording (sampled, exported to a batch processor that
// discards them): the cost of a URL's span on the engine's side.
//
//	go test -run '^$' -bench 'FetchStage(Traced)?$/batch=100' -benchmem ./stages/engine/
func BenchmarkFetchStageTraced(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	const size = 100
	b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
		b.ReportAllocs()
		batches := max(1, b.N/size)
		if n := len(runTraced(b, tp.Tracer("bench"), batches, size)); n != batches*size {
			b.Fatalf("got %d results, want %d", n, batches*size)
		}
		b.ReportMetric(float64(batches*size)/b.Elapsed().Seconds(), "urls/s")
	})
}
