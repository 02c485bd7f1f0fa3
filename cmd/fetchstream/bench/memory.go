package bench

import (
	"context"
	"fmt"
	"time"
)

// The memory load: 10 batches of 1,000 URLs that the target holds for
// 2 s each, all in flight at once (--concurrency 10000, --window 1000).
const (
	memoryInFlight  = 10000
	memoryBatchSize = 1000
	memoryHold      = 2 * time.Second
	memoryLimit     = "360MiB"
)

// memoryScenario reads the peak RSS of a service holding 10,000 requests
// in flight, without and with --memory-limit, and of the two yardstick
// clients (10,000 workers, a process of their own) holding the same
// requests, in turns. Each runs in a fresh process, so that each peak is
// its own.
func (e *env) memoryScenario(ctx context.Context) ([]Figure, error) {
	url := e.target.url(memoryHold)
	var free, limited, plain, tuned, ratio, limitedRatio, plainRatio []float64
	service := func(limit string, into *[]float64) func() error {
		return func() error {
			args := []string{"--concurrency", fmt.Sprint(memoryInFlight), "--window", fmt.Sprint(memoryBatchSize), "--timeout", "30s"}
			if limit != "" {
				args = append(args, "--memory-limit", limit)
			}
			load, err := e.runLoad(ctx, args, makeBatches("mem", memoryInFlight/memoryBatchSize, memoryBatchSize, url))
			if err == nil {
				*into = append(*into, mib(load.peakRSS))
			}
			return err
		}
	}
	client := func(transport string, into *[]float64) func() error {
		return func() error {
			child, err := startClient(ctx, e.executable, ClientConfig{URL: url, Workers: memoryInFlight, Transport: transport})
			if err != nil {
				return err
			}
			defer child.stop()
			if _, err := child.run(memoryInFlight); err != nil {
				return err
			}
			rss, err := child.peakRSS()
			if err == nil {
				*into = append(*into, mib(rss))
			}
			return err
		}
	}
	err := e.rounds(func(round int) error {
		if err := rotate(round, service("", &free), service(memoryLimit, &limited),
			client(TunedTransport, &tuned), client(PlainTransport, &plain)); err != nil {
			return err
		}
		ratio, limitedRatio = append(ratio, free[round]/tuned[round]), append(limitedRatio, limited[round]/tuned[round])
		plainRatio = append(plainRatio, free[round]/plain[round])
		e.logf("memory round %d: service %.1f MiB, with --memory-limit %s %.1f MiB; tuned client %.1f MiB, plain client %.1f MiB",
			round+1, free[round], memoryLimit, limited[round], tuned[round], plain[round])
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []Figure{
		figure("memory", "ratio of service peak RSS to the tuned client's, 10k in flight", "x", "", ratio),
		figure("memory", "ratio of it with --memory-limit "+memoryLimit+" to the tuned client's", "x", "", limitedRatio),
		figure("memory", "plain: ratio of service peak RSS to the plain client's, 10k in flight", "x", "<= 1.25", plainRatio),
		figure("memory", "service peak RSS, 10k in flight", "MiB", "", free),
		figure("memory", "service peak RSS, 10k in flight, --memory-limit "+memoryLimit, "MiB", "< 400", limited),
		figure("memory", "tuned client peak RSS, 10k in flight (10k workers)", "MiB", "", tuned),
		figure("memory", "plain client peak RSS, 10k in flight (10k workers)", "MiB", "", plain),
	}, nil
}

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }
