package bench

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"
)

// overheadScenario measures the pipeline's own cost: OverheadURLs
// zero-delay URLs a round, in batches of 20 with their bodies embedded in
// the results, through one service at --concurrency 64, against the same
// number of requests from two clients of 64 workers in processes of their
// own (the plain one, and one with the service's buffers), in turns. CPU
// per URL is each process's CPU time over the URLs it handled.
func (e *env) overheadScenario(ctx context.Context) ([]Figure, error) {
	n := e.cfg.OverheadURLs / batchSize * batchSize
	url := e.target.url(0)
	runtime.GC()
	debug.FreeOSMemory()
	c, s, err := e.service(ctx, "--concurrency", fmt.Sprint(P))
	if err != nil {
		return nil, err
	}
	defer c.stop()
	plain, err := startClient(ctx, e.executable, ClientConfig{URL: url, Workers: P, Transport: PlainTransport})
	if err != nil {
		return nil, err
	}
	defer plain.stop()
	tuned, err := startClient(ctx, e.executable, ClientConfig{URL: url, Workers: P, Transport: ServiceBuffersTransport})
	if err != nil {
		return nil, err
	}
	defer tuned.stop()
	var ratio, tunedRatio, cpuRatio, rate, plainRate, tunedRate, p50, p99, serviceCPU, plainCPU, tunedCPU, benchCPU []float64
	err = e.rounds(func(round int) error {
		var pipeWall, plainWall, tunedWall, pipeCPU, plainSpent, tunedSpent, benchSpent time.Duration
		var latencies []time.Duration
		err := rotate(round, func() (err error) {
			plainWall, plainSpent, err = plain.measure(n)
			return err
		}, func() (err error) {
			tunedWall, tunedSpent, err = tuned.measure(n)
			return err
		}, func() error {
			load, err := e.sendLoad(ctx, c, s, makeBatches(fmt.Sprintf("ovh-%d", round), n/batchSize, batchSize, url), 0, 0)
			if err == nil {
				err = load.allResults(n)
			}
			if err != nil {
				return err
			}
			pipeWall, pipeCPU, benchSpent, latencies = load.wall, load.serviceCPU, load.benchCPU, load.latencies()
			return nil
		})
		if err != nil {
			return err
		}
		r, pr, tr := float64(n)/pipeWall.Seconds(), float64(n)/plainWall.Seconds(), float64(n)/tunedWall.Seconds()
		rate, plainRate, tunedRate = append(rate, r), append(plainRate, pr), append(tunedRate, tr)
		ratio, tunedRatio = append(ratio, r/pr), append(tunedRatio, r/tr)
		serviceCPU, plainCPU = append(serviceCPU, perURL(pipeCPU, n)), append(plainCPU, perURL(plainSpent, n))
		tunedCPU, benchCPU = append(tunedCPU, perURL(tunedSpent, n)), append(benchCPU, perURL(benchSpent, n))
		cpuRatio = append(cpuRatio, serviceCPU[round]/plainCPU[round])
		b50, b99 := percentiles(latencies)
		p50, p99 = append(p50, ms(b50)), append(p99, ms(b99))
		e.logf("overhead round %d: pipeline %.0f URLs/s, plain client %.0f req/s, service-buffers client %.0f req/s (ratio %.3f); CPU per URL: service %.1f µs, plain %.1f µs, service-buffers %.1f µs, bench process %.1f µs",
			round+1, r, pr, tr, ratio[round], serviceCPU[round], plainCPU[round], tunedCPU[round], benchCPU[round])
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []Figure{
		figure("overhead", "ratio of URLs/s to the plain client's", "x", ">= 0.6", ratio),
		figure("overhead", "ratio of service CPU per URL to the plain client's", "x", "<= 1.3", cpuRatio),
		figure("overhead", "ratio of URLs/s to the service-buffers client's", "x", "", tunedRatio),
		figure("overhead", "pipeline URLs/s (end to end, batches of 20, bodies embedded)", "URLs/s", "", rate),
		figure("overhead", "plain client req/s (http.Client{}, 64 workers, own process)", "req/s", "", plainRate),
		figure("overhead", "service-buffers client req/s (64 workers, own process)", "req/s", "", tunedRate),
		figure("overhead", "service CPU per URL", "µs", "", serviceCPU),
		figure("overhead", "plain client CPU per request", "µs", "", plainCPU),
		figure("overhead", "service-buffers client CPU per request", "µs", "", tunedCPU),
		figure("overhead", "bench process CPU per URL (NATS, target, load)", "µs", "", benchCPU),
		figure("overhead", "batch latency p50", "ms", "", p50),
		figure("overhead", "batch latency p99", "ms", "", p99),
	}, nil
}
