package fleet

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/wire"
)

// BenchmarkLease is the cost of the fleet's pace: one lease of n slots
// from the bucket on an embedded server (a read and a conditional write),
// alone and with three replicas leasing one key at once (b.N leases in
// all, shared between them); ns/grant is the time over the slots leased.
func BenchmarkLease(b *testing.B) {
	for _, replicas := range []int{1, 3} {
		for _, n := range []int{1, 5} {
			b.Run(fmt.Sprintf("replicas=%d/slots=%d", replicas, n), func(b *testing.B) {
				fleets, _ := newFleets(b, replicas, Config{})
				b.ResetTimer()
				var wg sync.WaitGroup
				for i, f := range fleets {
					wg.Go(func() {
						for range b.N/replicas + min(1, b.N%replicas/(i+1)) {
							if len(f.lease(context.Background(), "host bench.example:443", 1e9, 1, n)) != n {
								b.Error("short lease")
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/grant")
				var conflicts uint64
				for _, f := range fleets {
					conflicts += f.Stats().Conflicts
				}
				b.ReportMetric(float64(conflicts)/float64(b.N), "conflicts/lease")
			})
		}
	}
}

// instant answers every URL at once, so BenchmarkPacedStage measures the
// engine's own cost per URL.
type instant struct{}

func (instant) Do(_ context.Context, req wire.Request, _ *wire.RequestOptions, _ time.Duration) wire.Result {
	return wire.Result{URL: req.URL, Status: 200}
}

// BenchmarkPacedStage runs batches of 100 URLs over 16 hosts through the
// fetch stage with a pace too high to bind (1e6 a second per host): the
// replica's own token buckets, or the fleet's leases from the bucket.
func BenchmarkPacedStage(b *testing.B) {
	for _, mode := range []string{"own", "fleet"} {
		b.Run(mode, func(b *testing.B) {
			runStage(b, mode, engine.FetchConfig{Concurrency: 64, Window: 256, MaxActive: 256, PerHostRate: 1e6, MaxHostPause: time.Minute})
		})
	}
}

// BenchmarkCappedStage is BenchmarkPacedStage with a cap on requests in
// flight per host (--per-host 64) instead of a pace: the replica's own,
// or the fleet's permits from the bucket.
func BenchmarkCappedStage(b *testing.B) {
	for _, mode := range []string{"own", "fleet"} {
		b.Run(mode, func(b *testing.B) {
			runStage(b, mode, engine.FetchConfig{Concurrency: 64, Window: 256, MaxActive: 256, PerHost: 64, MaxHostPause: time.Minute})
		})
	}
}

// runStage runs b.N URLs, in batches of 100 over 16 hosts, through a
// fetch stage of cfg with an instant fetcher, alone (mode "own") or with
// a fleet of one ("fleet").
func runStage(b *testing.B, mode string, cfg engine.FetchConfig) {
	if mode == "fleet" {
		fleets, _ := newFleets(b, 1, Config{MaxHostPause: time.Minute})
		cfg.Fleet = fleets[0]
	}
	stage, err := engine.NewFetch(b.Context(), instant{}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	urls := make([]string, 100)
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
	batches := max(1, b.N/len(urls))
	for i := range batches {
		stage.In() <- &stages.Job{ID: fmt.Sprint(i), Flow: fmt.Sprint(i), Requests: wire.URLs(urls...), Timeout: time.Second, Start: time.Now()}
	}
	close(stage.In())
	if n := <-done; n != batches*len(urls) {
		b.Fatalf("got %d results, want %d", n, batches*len(urls))
	}
	b.ReportMetric(float64(batches*len(urls))/b.Elapsed().Seconds(), "urls/s")
}

// BenchmarkCapRound is the cost of the fleet's cap: one round for a host
// (a read of its key and a write conditional on its revision), alone and
// with three replicas writing one key at once (b.N rounds in all); each
// round's demand differs from the last, so each writes.
func BenchmarkCapRound(b *testing.B) {
	for _, replicas := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) {
			fleets, _ := newFleets(b, replicas, Config{})
			b.ResetTimer()
			var wg sync.WaitGroup
			for i, f := range fleets {
				wg.Go(func() {
					for k := range b.N/replicas + min(1, b.N%replicas/(i+1)) {
						if _, _, _, err := f.writeCap(context.Background(), "bench.example:443", 8, 1+k%2, 0); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			var conflicts uint64
			for _, f := range fleets {
				conflicts += f.Stats().Conflicts
			}
			b.ReportMetric(float64(conflicts)/float64(b.N), "conflicts/round")
		})
	}
}
