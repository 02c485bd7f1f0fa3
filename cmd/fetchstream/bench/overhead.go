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
// number of requests from the tuned client (the yardstick) and the plain
// one, 64 workers each in processes of their own, in turns. CPU per URL is
// each process's CPU time over the URLs it handled; the ratios are the
// service's over the tuned client's (held to issue 24's targets), then
// over the plain client's (held to issue 17's).
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
	tuned, err := startClient(ctx, e.executable, ClientConfig{URL: url, Workers: P, Transport: TunedTransport})
	if err != nil {
		return nil, err
	}
	defer tuned.stop()
	plain, err := startClient(ctx, e.executable, ClientConfig{URL: url, Workers: P, Transport: PlainTransport})
	if err != nil {
		return nil, err
	}
	defer plain.stop()
	var cpuRatio, rateRatio, plainCPURatio, plainRateRatio []float64
	var rate, tunedRate, plainRate, serviceCPU, tunedCPU, plainCPU, benchCPU, p50, p99 []float64
	err = e.rounds(func(round int) error {
		var pipeWall, tunedWall, plainWall, pipeCPU, tunedSpent, plainSpent, benchSpent time.Duration
		var latencies []time.Duration
		err := rotate(round, func() (err error) {
			tunedWall, tunedSpent, err = tuned.measure(n)
			return err
		}, func() (err error) {
			plainWall, plainSpent, err = plain.measure(n)
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
		r, tr, pr := float64(n)/pipeWall.Seconds(), float64(n)/tunedWall.Seconds(), float64(n)/plainWall.Seconds()
		rate, tunedRate, plainRate = append(rate, r), append(tunedRate, tr), append(plainRate, pr)
		serviceCPU, tunedCPU = append(serviceCPU, perURL(pipeCPU, n)), append(tunedCPU, perURL(tunedSpent, n))
		plainCPU, benchCPU = append(plainCPU, perURL(plainSpent, n)), append(benchCPU, perURL(benchSpent, n))
		cpuRatio, rateRatio = append(cpuRatio, serviceCPU[round]/tunedCPU[round]), append(rateRatio, r/tr)
		plainCPURatio, plainRateRatio = append(plainCPURatio, serviceCPU[round]/plainCPU[round]), append(plainRateRatio, r/pr)
		b50, b99 := percentiles(latencies)
		p50, p99 = append(p50, ms(b50)), append(p99, ms(b99))
		e.logf("overhead round %d: pipeline %.0f URLs/s, tuned client %.0f req/s (ratio %.3f), plain client %.0f req/s; CPU per URL: service %.1f µs, tuned %.1f µs (ratio %.3f), plain %.1f µs, bench process %.1f µs",
			round+1, r, tr, rateRatio[round], pr, serviceCPU[round], tunedCPU[round], cpuRatio[round], plainCPU[round], benchCPU[round])
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []Figure{
		figure("overhead", "ratio of service CPU per URL to the tuned client's", "x", "<= 1.5", cpuRatio),
		figure("overhead", "ratio of URLs/s end to end to the tuned client's", "x", ">= 0.6", rateRatio),
		figure("overhead", "plain: ratio of service CPU per URL to the plain client's", "x", "<= 1.3", plainCPURatio),
		figure("overhead", "plain: ratio of URLs/s end to end to the plain client's", "x", ">= 0.6", plainRateRatio),
		figure("overhead", "pipeline URLs/s (end to end, batches of 20, bodies embedded)", "URLs/s", "", rate),
		figure("overhead", "tuned client req/s (idle pool of 64, 64 workers, own process)", "req/s", "", tunedRate),
		figure("overhead", "plain client req/s (http.Client{}, 64 workers, own process)", "req/s", "", plainRate),
		figure("overhead", "service CPU per URL", "µs", "", serviceCPU),
		figure("overhead", "tuned client CPU per request", "µs", "", tunedCPU),
		figure("overhead", "plain client CPU per request", "µs", "", plainCPU),
		figure("overhead", "bench process CPU per URL (NATS, target, load)", "µs", "", benchCPU),
		figure("overhead", "batch latency p50", "ms", "", p50),
		figure("overhead", "batch latency p99", "ms", "", p99),
	}, nil
}
