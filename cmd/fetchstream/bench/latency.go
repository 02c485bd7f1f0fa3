package bench

import (
	"context"
	"fmt"
	"time"
)

// latencyDelay is how long the target holds each URL of the latency load.
const latencyDelay = 100 * time.Millisecond

// latencyScenario sends LatencyURLs URLs of 100 ms, in batches of 20, to
// a service at --concurrency 64, and makes the same requests with the
// tuned client (the yardstick) and the plain one (64 workers each, a
// process of their own), in turns. With whole
// requests some slot runs ceil(N/P) of them one after another: that floor
// is the shortest possible run (P/D, the rate limit, is below it).
func (e *env) latencyScenario(ctx context.Context) ([]Figure, error) {
	n := e.cfg.LatencyURLs / batchSize * batchSize
	url := e.target.url(latencyDelay)
	limit := time.Duration(n) * latencyDelay / P
	floor := time.Duration((n+P-1)/P) * latencyDelay
	var wall, tunedWall, plainWall, floorRatio, tunedRatio, plainRatio, limitRatio, p50, p99, rss []float64
	client := func(transport string, took *time.Duration) func() error {
		return func() error {
			child, err := startClient(ctx, e.executable, ClientConfig{URL: url, Workers: P, Transport: transport})
			if err != nil {
				return err
			}
			defer child.stop()
			*took, err = child.run(n)
			return err
		}
	}
	err := e.rounds(func(round int) error {
		var pipe, tuned, plain time.Duration
		err := rotate(round, client(TunedTransport, &tuned), client(PlainTransport, &plain), func() error {
			load, err := e.runLoad(ctx, []string{"--concurrency", fmt.Sprint(P)}, makeBatches(fmt.Sprintf("lat-%d", round), n/batchSize, batchSize, url))
			if err != nil {
				return err
			}
			pipe = load.wall
			b50, b99 := load.percentiles()
			p50, p99, rss = append(p50, ms(b50)), append(p99, ms(b99)), append(rss, float64(load.peakRSS)/(1<<20))
			return nil
		})
		if err != nil {
			return err
		}
		wall, tunedWall, plainWall = append(wall, pipe.Seconds()), append(tunedWall, tuned.Seconds()), append(plainWall, plain.Seconds())
		floorRatio = append(floorRatio, floor.Seconds()/pipe.Seconds())
		tunedRatio = append(tunedRatio, tuned.Seconds()/pipe.Seconds())
		plainRatio = append(plainRatio, plain.Seconds()/pipe.Seconds())
		limitRatio = append(limitRatio, limit.Seconds()/pipe.Seconds())
		e.logf("latency round %d: %d URLs in %s (floor %s, tuned client %s, plain client %s): %.3f of the floor, %.3f of the tuned client",
			round+1, n, pipe.Round(time.Millisecond), floor, tuned.Round(time.Millisecond), plain.Round(time.Millisecond), floorRatio[round], tunedRatio[round])
		return nil
	})
	if err != nil {
		return nil, err
	}
	load := fmt.Sprintf("%d URLs of %s at %d", n, latencyDelay, P)
	return []Figure{
		figure("latency", fmt.Sprintf("ratio to the ceil(N/P)*D floor (%s)", floor), "x", ">= 0.98", floorRatio),
		figure("latency", "ratio to the tuned client in its own process (its time / ours)", "x", "", tunedRatio),
		figure("latency", "plain: ratio to the plain client in its own process (its time / ours)", "x", ">= 0.99", plainRatio),
		figure("latency", fmt.Sprintf("ratio to the P/D limit (%s)", limit), "x", "", limitRatio),
		figure("latency", "pipeline wall time, "+load, "s", "", wall),
		figure("latency", "tuned client wall time, "+load, "s", "", tunedWall),
		figure("latency", "plain client wall time, "+load, "s", "", plainWall),
		figure("latency", "batch latency p50", "ms", "", p50),
		figure("latency", "batch latency p99", "ms", "", p99),
		figure("latency", "service peak RSS at 64 in flight", "MiB", "< 40", rss),
	}, nil
}
