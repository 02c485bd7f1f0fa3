package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

const benchP = 64

// loadOutcome is what one runLoad measured.
type loadOutcome struct {
	*loadRun
	wall time.Duration
	// peakRSS is the service's high-water resident set, in bytes.
	peakRSS int64
	// serviceCPU and benchCPU are the CPU time (user and system) the
	// service and this process spent between the first publish and the
	// last summary: the bench process holds NATS, the target and the load
	// generator.
	serviceCPU, benchCPU time.Duration
}

// runLoad starts a service with args and sends it one load (see sendLoad).
func (e *benchEnv) runLoad(ctx context.Context, args []string, batches []wire.Batch, delayed int, after time.Duration) (*loadOutcome, error) {
	c, subjects, err := e.child(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	return e.sendLoad(ctx, c, subjects, batches, delayed, after)
}

// sendLoad sends batches to a running service (the ones after `delayed`
// once `after` has passed) and waits for every summary. Batch ids must
// differ from those of the service's earlier loads.
func (e *benchEnv) sendLoad(ctx context.Context, c *benchChild, subjects subjectFlags, batches []wire.Batch, delayed int, after time.Duration) (*loadOutcome, error) {
	load, cleanup, err := newLoadRun(e.nc, subjects, len(batches))
	if err != nil {
		return nil, err
	}
	defer cleanup()
	serviceBefore, err := c.cpuTime()
	if err != nil {
		return nil, err
	}
	benchBefore := selfCPUTime()
	start := time.Now()
	first := len(batches) - delayed
	for _, b := range batches[:first] {
		if err := load.publish(b); err != nil {
			return nil, err
		}
	}
	if delayed > 0 {
		time.Sleep(after - time.Since(start))
		for _, b := range batches[first:] {
			if err := load.publish(b); err != nil {
				return nil, err
			}
		}
	}
	if err := load.wait(ctx, 5*time.Minute); err != nil {
		return nil, err
	}
	out := &loadOutcome{loadRun: load, wall: time.Since(start), benchCPU: selfCPUTime() - benchBefore}
	serviceAfter, err := c.cpuTime()
	if err != nil {
		return nil, err
	}
	out.serviceCPU = serviceAfter - serviceBefore
	if out.peakRSS, err = c.peakRSS(); err != nil {
		return nil, err
	}
	if load.failed > 0 {
		return nil, fmt.Errorf("%d URLs failed", load.failed)
	}
	return out, nil
}

func (e *benchEnv) latencyScenario(ctx context.Context, runs int) ([]benchFigure, error) {
	const batches, size, delay = 100, 20, 100 * time.Millisecond
	limit := time.Duration(batches*size) * delay / benchP
	// With whole requests, some slot runs ceil(N/P) of them one after
	// another: the shortest possible run, and the fairer yardstick.
	floor := time.Duration((batches*size+benchP-1)/benchP) * delay
	var ratio, floorRatio, bareRatio, rate, p50, p99, rss []float64
	for run := range runs {
		bareRate, err := bareChildRate(ctx, e.target.url(delay), batches*size, benchP)
		if err != nil {
			return nil, err
		}
		load, err := e.runLoad(ctx, []string{"--concurrency", fmt.Sprint(benchP)},
			makeBatches("lat", batches, size, e.target.url(delay)), 0, 0)
		if err != nil {
			return nil, err
		}
		wall, peak := load.wall, load.peakRSS
		b50, b99 := load.percentiles()
		ratio = append(ratio, limit.Seconds()/wall.Seconds())
		floorRatio = append(floorRatio, floor.Seconds()/wall.Seconds())
		bareRatio = append(bareRatio, float64(batches*size)/wall.Seconds()/bareRate)
		rate = append(rate, float64(batches*size)/wall.Seconds())
		p50, p99 = append(p50, ms(b50)), append(p99, ms(b99))
		rss = append(rss, float64(peak)/(1<<20))
		e.logf("latency run %d: %d URLs in %s (limit %s), ratio %.3f", run+1, batches*size, wall.Round(time.Millisecond), limit, ratio[run])
	}
	return []benchFigure{
		figure("latency", "ratio to the P/D limit (3.125 s)", "x", ">= 0.98", ratio),
		figure("latency", "ratio to ceil(N/P)*D (3.2 s)", "x", "", floorRatio),
		figure("latency", "ratio to a bare client in its own process (64 workers)", "x", "", bareRatio),
		figure("latency", "URLs/s", "URLs/s", "", rate),
		figure("latency", "batch latency p50", "ms", "", p50),
		figure("latency", "batch latency p99", "ms", "", p99),
		figure("latency", "peak RSS at 64 in flight", "MiB", "< 40", rss),
	}, nil
}

// overheadRounds is how many times a run alternates between the bare
// client and the pipeline: both then meet the same machine, whose speed
// drifts by a fifth within minutes on a shared VM.
const overheadRounds = 5

func (e *benchEnv) overheadScenario(ctx context.Context, runs, n int) ([]benchFigure, error) {
	var ratio, ownRatio, rate, bare, ownBare, p50, p99, serviceCPU, bareCPU, benchCPU []float64
	for run := range runs {
		r, err := e.overheadRun(ctx, n)
		if err != nil {
			return nil, err
		}
		ratio, ownRatio = append(ratio, r.pipeRate/r.bareRate), append(ownRatio, r.pipeRate/r.ownBareRate)
		rate, bare, ownBare = append(rate, r.pipeRate), append(bare, r.bareRate), append(ownBare, r.ownBareRate)
		p50, p99 = append(p50, ms(r.p50)), append(p99, ms(r.p99))
		serviceCPU, bareCPU, benchCPU = append(serviceCPU, r.serviceCPU), append(bareCPU, r.ownBareCPU), append(benchCPU, r.benchCPU)
		e.logf("overhead run %d: pipeline %.0f URLs/s; bare client %.0f req/s in this process, %.0f in its own; ratios %.3f and %.3f; CPU per URL: service %.1f µs, bare client in its own process %.1f µs, bench process %.1f µs",
			run+1, r.pipeRate, r.bareRate, r.ownBareRate, ratio[run], ownRatio[run], r.serviceCPU, r.ownBareCPU, r.benchCPU)
	}
	return []benchFigure{
		figure("overhead", "ratio to a bare client in its own process", "x", ">= 0.6", ownRatio),
		figure("overhead", "ratio to a bare client in the target's process", "x", "", ratio),
		figure("overhead", "pipeline URLs/s (end to end, bodies)", "URLs/s", "", rate),
		figure("overhead", "bare client in its own process, req/s (64 workers)", "req/s", "", ownBare),
		figure("overhead", "bare client in the target's process, req/s", "req/s", "", bare),
		figure("overhead", "batch latency p50", "ms", "", p50),
		figure("overhead", "batch latency p99", "ms", "", p99),
		figure("overhead", "service CPU per URL", "µs", "", serviceCPU),
		figure("overhead", "bare client CPU per request, in its own process", "µs", "", bareCPU),
		figure("overhead", "bench process CPU per URL (NATS, target, load)", "µs", "", benchCPU),
	}, nil
}

// overheadRun is one run of the overhead scenario.
type overheadRun struct {
	pipeRate, bareRate, ownBareRate  float64 // URLs/s, requests/s
	p50, p99                         time.Duration
	serviceCPU, ownBareCPU, benchCPU float64 // µs per URL
}

// overheadRun starts a service and sends it n zero-delay URLs in
// overheadRounds rounds. In each, two bare clients also make as many
// requests: one in this process, which holds the target (the two then
// share one Go runtime: their wake-ups never cross a process boundary),
// and one in a process of its own, which meets the same boundaries as
// the service.
func (e *benchEnv) overheadRun(ctx context.Context, n int) (*overheadRun, error) {
	const size = 100
	perRound := max(n/overheadRounds/size, 1) * size
	total := float64(perRound * overheadRounds)
	url := e.target.url(0)
	runtime.GC()
	debug.FreeOSMemory()
	c, subjects, err := e.child(ctx, "--concurrency", fmt.Sprint(benchP))
	if err != nil {
		return nil, err
	}
	defer c.stop()
	client := newBareClient(benchP)
	defer client.close()
	own, err := startBareChild(ctx, "", url, benchP)
	if err != nil {
		return nil, err
	}
	defer own.stop()
	var pipeWall, bareWall, ownWall, ownCPU, svcCPU, selfCPU time.Duration
	var latencies []time.Duration
	inProcess := func() error {
		took, err := client.run(ctx, url, perRound)
		bareWall += took
		return err
	}
	ownProcess := func() error {
		cpuBefore, err := own.cpuTime()
		if err != nil {
			return err
		}
		took, err := own.run(perRound)
		if err != nil {
			return err
		}
		cpuAfter, err := own.cpuTime()
		ownWall, ownCPU = ownWall+took, ownCPU+cpuAfter-cpuBefore
		return err
	}
	pipeline := func(round int) error {
		load, err := e.sendLoad(ctx, c, subjects, makeBatches(fmt.Sprintf("ovh-%d", round), perRound/size, size, url), 0, 0)
		if err == nil {
			err = load.allResults(perRound)
		}
		if err != nil {
			return err
		}
		pipeWall, svcCPU, selfCPU = pipeWall+load.wall, svcCPU+load.serviceCPU, selfCPU+load.benchCPU
		latencies = append(latencies, load.latencies()...)
		return nil
	}
	for round := range overheadRounds {
		// The three take turns in an order that rotates, so that none
		// always follows the same one (and the garbage it left).
		phases := []func() error{inProcess, ownProcess, func() error { return pipeline(round) }}
		for i := range phases {
			if err := phases[(round+i)%len(phases)](); err != nil {
				return nil, err
			}
		}
	}
	r := &overheadRun{pipeRate: total / pipeWall.Seconds(), bareRate: total / bareWall.Seconds(),
		ownBareRate: total / ownWall.Seconds(), ownBareCPU: float64(ownCPU.Microseconds()) / total,
		serviceCPU: float64(svcCPU.Microseconds()) / total, benchCPU: float64(selfCPU.Microseconds()) / total}
	r.p50, r.p99 = percentiles(latencies)
	return r, nil
}

func (e *benchEnv) memoryScenario(ctx context.Context) ([]benchFigure, error) {
	const inFlight, size, hold = 10000, 1000, 2 * time.Second
	var figures []benchFigure
	for _, limit := range []string{"", "360MiB"} {
		for _, batches := range []int{inFlight / size, 4 * inFlight / size, 10 * inFlight / size} {
			args := []string{"--concurrency", fmt.Sprint(inFlight), "--window", fmt.Sprint(size), "--timeout", "30s"}
			name := fmt.Sprintf("peak RSS, 10k in flight, %d batches", batches)
			if limit != "" {
				args = append(args, "--memory-limit", limit)
				name += ", --memory-limit " + limit
			}
			load, err := e.runLoad(ctx, args, makeBatches("mem", batches, size, e.target.url(hold)), 0, 0)
			if err != nil {
				return nil, err
			}
			wall, rss := load.wall, load.peakRSS
			e.logf("memory: %s: %s, %.1f MiB", name, wall.Round(time.Millisecond), float64(rss)/(1<<20))
			figures = append(figures, figure("memory", name, "MiB", "< 400", []float64{float64(rss) / (1 << 20)}))
		}
	}
	for _, waves := range []int{1, 4, 10} {
		rss, err := bareChildPeakRSS(ctx, e.target.url(hold), inFlight, waves)
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("peak RSS, plain net/http client, 10k in flight, %dk requests", waves*inFlight/1000)
		e.logf("memory: %s: %.1f MiB", name, float64(rss)/(1<<20))
		figures = append(figures, figure("memory", name, "MiB", "", []float64{float64(rss) / (1 << 20)}))
	}
	return figures, nil
}

// bareChildPeakRSS is the peak RSS of a plain net/http client, in a
// process of its own, making inFlight × waves GETs of url with inFlight
// workers: the floor the service's memory is compared with.
func bareChildPeakRSS(ctx context.Context, url string, inFlight, waves int) (int64, error) {
	child, err := startBareChild(ctx, "", url, inFlight)
	if err != nil {
		return 0, err
	}
	defer child.stop()
	if _, err := child.run(inFlight * waves); err != nil {
		return 0, err
	}
	return child.peakRSS()
}

func (e *benchEnv) fairnessScenario(ctx context.Context) ([]benchFigure, error) {
	const bigN, delay = 5000, 200 * time.Millisecond
	url := e.target.url(delay)
	args := []string{"--concurrency", fmt.Sprint(benchP)}
	big := makeBatches("big", 1, bigN, url)
	small := makeBatches("small", 1, 3, url)
	bigAlone, err := e.runLoad(ctx, args, big, 0, 0)
	if err != nil {
		return nil, err
	}
	alone := bigAlone.wall
	e.logf("fairness: big batch alone %s", alone.Round(time.Millisecond))
	smallAlone, err := e.runLoad(ctx, args, small, 0, 0)
	if err != nil {
		return nil, err
	}
	load, err := e.runLoad(ctx, args, append(big, small...), 1, 500*time.Millisecond)
	if err != nil {
		return nil, err
	}
	smallLatency, bigLatency := load.batchLatency("small-0"), load.batchLatency("big-0")
	e.logf("fairness: with a small batch at 0.5s: small answered in %s, big took %s", smallLatency.Round(time.Millisecond), bigLatency.Round(time.Millisecond))
	splitSmall, splitBig, err := e.fairnessSplit(ctx, args, url, bigN, delay)
	if err != nil {
		return nil, err
	}
	e.logf("fairness: big split over 50, small by request-reply: small %s, big %s", splitSmall.Round(time.Millisecond), splitBig.Round(time.Millisecond))
	return []benchFigure{
		figure("fairness", "big batch alone", "s", "", []float64{alone.Seconds()}),
		figure("fairness", "small batch latency, alone", "ms", "", []float64{ms(smallAlone.batchLatency("small-0"))}),
		figure("fairness", "small batch latency, big one running", "ms", "< 1000", []float64{ms(smallLatency)}),
		figure("fairness", "big batch slowdown with the small one", "x", "<= 1.05", []float64{bigLatency.Seconds() / alone.Seconds()}),
		figure("fairness", "split big: small request-reply latency", "ms", "< 1000", []float64{ms(splitSmall)}),
		figure("fairness", "split big: slowdown vs alone", "x", "<= 1.05", []float64{splitBig.Seconds() / alone.Seconds()}),
	}, nil
}

// fairnessSplit sends the big batch as 50 correlated messages and the
// small one by request-reply 0.5 s in.
func (e *benchEnv) fairnessSplit(ctx context.Context, args []string, url string, bigN int, _ time.Duration) (small, big time.Duration, err error) {
	urls := make([]string, bigN)
	for i := range urls {
		urls[i] = url
	}
	parts := splitBatches(urls, bigN/50, e.nc.MaxPayload(), "split", 0)
	c, subjects, err := e.child(ctx, args...)
	if err != nil {
		return 0, 0, err
	}
	defer c.stop()
	load, cleanup, err := newLoadRun(e.nc, subjects, len(parts))
	if err != nil {
		return 0, 0, err
	}
	defer cleanup()
	start := time.Now()
	for _, p := range parts {
		if err := load.publish(p); err != nil {
			return 0, 0, err
		}
	}
	time.Sleep(500*time.Millisecond - time.Since(start))
	data, _ := json.Marshal([]string{url, url, url})
	sent := time.Now()
	reply, err := e.nc.RequestWithContext(ctx, subjects.in, data)
	if err != nil {
		return 0, 0, err
	}
	small = time.Since(sent)
	var results []wire.Result
	if err := json.Unmarshal(reply.Data, &results); err != nil || len(results) != 3 {
		return 0, 0, fmt.Errorf("small request-reply: %s", reply.Data)
	}
	if err := load.wait(ctx, 5*time.Minute); err != nil {
		return 0, 0, err
	}
	return small, time.Since(start), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func cpuCount() int { return runtime.NumCPU() }

func goVersion() string { return runtime.Version() }
