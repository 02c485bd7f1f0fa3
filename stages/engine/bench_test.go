package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/wire"
)

// instantFetcher answers at once, so BenchmarkFetchStage measures the
// stage's own cost per URL: scheduling, ordering and channel hand-offs.
type instantFetcher struct{}

func (instantFetcher) Do(_ context.Context, req wire.Request, _ *wire.RequestOptions, _ time.Duration) wire.Result {
	return wire.Result{URL: req.URL, Status: 200}
}

// BenchmarkFetchStage runs batches through the stage with an instant
// fetcher: plain; with pauses on (the service's default, which costs
// nothing per URL while no host is paused); gated (a per-host cap, so
// every URL goes through its host's gate, on 16 hosts); and with a batch
// lifetime (the service's default of 15m: each request's context
// carries its batch's deadline).
func BenchmarkFetchStage(b *testing.B) {
	for _, mode := range []string{"", "pauses/", "gated/", "lifetime/"} {
		for _, size := range []int{1, 100, 10000} {
			name := fmt.Sprintf("%sbatch=%d", mode, size)
			cfg := FetchConfig{Concurrency: 64, Window: 256, MaxActive: 256}
			switch mode {
			case "pauses/":
				cfg.MaxHostPause = time.Minute
			case "gated/":
				cfg.PerHost, cfg.MaxHostPause = 64, time.Minute
			case "lifetime/":
				cfg.MaxBatchTime = 15 * time.Minute
			}
			b.Run(name, func(b *testing.B) { benchmarkFetchStage(b, cfg, size) })
		}
	}
}

func benchmarkFetchStage(b *testing.B, cfg FetchConfig, size int) {
	stage, err := NewFetch(b.Context(), instantFetcher{}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	urls := make([]string, size)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://h%d.example.com/x", i%16)
	}
	done := make(chan int)
	go func() {
		n := 0
		for element := range stage.Out() {
			if _, ok := element.(*stages.Fetched); ok {
				n++
			}
		}
		done <- n
	}()
	b.ReportAllocs()
	b.ResetTimer()
	batches := max(1, b.N/size)
	for i := range batches {
		stage.In() <- &stages.Job{ID: fmt.Sprint(i), Flow: fmt.Sprint(i), Requests: wire.URLs(urls...), Timeout: time.Second, Start: time.Now()}
	}
	close(stage.In())
	if n := <-done; n != batches*size {
		b.Fatalf("got %d results, want %d", n, batches*size)
	}
	b.ReportMetric(float64(batches*size)/b.Elapsed().Seconds(), "urls/s")
}

// countingSink takes encoded results as a core NATS publisher does (each
// released once handled) and counts them.
type countingSink struct {
	in   chan any
	done chan struct{}
	n    int
}

func newCountingSink() *countingSink {
	s := &countingSink{in: make(chan any, stages.HandoffBuffer), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for e := range s.in {
			if enc, ok := e.(*stages.Encoded); ok {
				s.n++
				enc.Release()
			}
		}
	}()
	return s
}

func (s *countingSink) In() chan<- any   { return s.in }
func (s *countingSink) AwaitCompletion() { <-s.done }

// BenchmarkFetchEncode runs batches of 100 URLs through the fetch stage
// and the encode stage into a sink, wired as the service wires them, with
// an instant fetcher: the engine's and the encoder's own cost per URL,
// with the hand-offs between them.
func BenchmarkFetchEncode(b *testing.B) {
	const size = 100
	fetch, err := NewFetch(b.Context(), instantFetcher{}, FetchConfig{Concurrency: 64, Window: 256, MaxActive: 256})
	if err != nil {
		b.Fatal(err)
	}
	encode, err := stages.NewEncode(stages.EncodeConfig{MaxBytes: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	sink := newCountingSink()
	done := make(chan struct{})
	go func() {
		fetch.Via(encode).To(sink)
		close(done)
	}()
	urls := make([]string, size)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://h%d.example.com/x", i%16)
	}
	b.ReportAllocs()
	b.ResetTimer()
	batches := max(1, b.N/size)
	for i := range batches {
		fetch.In() <- &stages.Job{ID: fmt.Sprint(i), Flow: fmt.Sprint(i), Requests: wire.URLs(urls...), Timeout: time.Second, Start: time.Now()}
	}
	close(fetch.In())
	<-done
	if sink.n != batches*size {
		b.Fatalf("got %d results, want %d", sink.n, batches*size)
	}
	b.ReportMetric(float64(batches*size)/b.Elapsed().Seconds(), "urls/s")
}
