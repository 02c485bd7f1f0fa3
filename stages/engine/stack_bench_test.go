package engine

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/wire"
)

// BenchmarkHeldRequestStack holds 500 requests in flight through the stage
// and a real Fetcher, and reports the goroutine stack memory each one
// costs (stack-B/req: the runtime's StackInuse while they are held, less
// before, per request). It counts the worker's stack, the HTTP client's
// connection goroutines and the test server's handler: the worker's is
// the part the stage owns, kept between requests at the size of the
// deepest one, so every wire.Result copied into a frame under requests.work
// costs that much in each of Concurrency workers. On 2 CPUs (go1.26):
// 33 to 44 KiB per request before those frames were cut (ea2c392's
// parent), 27 to 29 KiB after. It does not show what a worker's frames
// hold at the wait as long as that fits the same power of two: with the
// request and the result passed by pointer down to the fetcher (DoInto),
// a worker waiting for its answer uses about 3.9 KiB of its stack instead
// of 6.0 KiB, and both fit 8 KiB here (25 to 30 KiB per request either
// way); the difference is the room left for what a request does beyond
// the wait before it doubles its stack. Run it without -race, which
// changes the frames.
func BenchmarkHeldRequestStack(b *testing.B) {
	const inFlight = 500
	var arrived atomic.Int64
	var release atomic.Pointer[chan struct{}] // this round's
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		select {
		case <-*release.Load():
		case <-r.Context().Done():
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	stage, err := NewFetch(b.Context(), loopbackFetcher(b, inFlight), FetchConfig{Concurrency: inFlight, Window: inFlight, MaxActive: inFlight})
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan struct{}, inFlight)
	go func() {
		for element := range stage.Out() {
			if _, ok := element.(*stages.Fetched); ok {
				got <- struct{}{}
			}
		}
	}()
	urls := make([]string, inFlight)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/held/%d", srv.URL, i)
	}
	var perRequest float64
	round := 0
	for b.Loop() {
		var before, held runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		arrived.Store(0)
		ch := make(chan struct{})
		release.Store(&ch)
		stage.In() <- &stages.Job{ID: fmt.Sprint(round), Flow: fmt.Sprint(round), Requests: wire.URLs(urls...), Timeout: time.Minute, Start: time.Now()}
		deadline := time.After(time.Minute)
		for arrived.Load() < inFlight {
			select {
			case <-deadline:
				b.Fatalf("%d of %d requests arrived within a minute", arrived.Load(), inFlight)
			case <-time.After(time.Millisecond):
			}
		}
		runtime.ReadMemStats(&held)
		close(ch)
		for range inFlight {
			select {
			case <-got:
			case <-deadline:
				b.Fatal("results missing after a minute")
			}
		}
		perRequest = max(perRequest, float64(int64(held.StackInuse)-int64(before.StackInuse))/inFlight)
		round++
	}
	close(stage.In())
	b.ReportMetric(perRequest, "stack-B/req")
}
