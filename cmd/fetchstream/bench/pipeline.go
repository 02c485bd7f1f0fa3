package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

// P is the concurrency of the latency and overhead scenarios: the
// service's --concurrency and the yardstick clients' workers.
const P = 64

// loadOutcome is what one load through the pipeline measured.
type loadOutcome struct {
	*loadRun
	wall time.Duration
	// peakRSS is the service's high-water resident set, in bytes.
	peakRSS int64
	// serviceCPU and benchCPU are the CPU time (user and system) the
	// service and this process spent between the first publish and the
	// last summary: the bench process holds NATS (unless it joined one),
	// the target and the load generator.
	serviceCPU, benchCPU time.Duration
}

// runLoad starts a service with args, sends it one load (see sendLoad)
// and stops it.
func (e *env) runLoad(ctx context.Context, args []string, batches []wire.Batch) (*loadOutcome, error) {
	c, s, err := e.service(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	return e.sendLoad(ctx, c, s, batches, 0, 0)
}

// sendLoad sends batches to a running service (the ones after `delayed`
// once `after` has passed), at most maxOutstanding awaiting their summaries
// at a time, and waits for every summary; a URL that failed
// fails the load. Batch ids must differ from those of the service's
// earlier loads.
func (e *env) sendLoad(ctx context.Context, c *serviceChild, s subjects, batches []wire.Batch, delayed int, after time.Duration) (*loadOutcome, error) {
	load, cleanup, err := newLoadRun(e.nc, s, len(batches))
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
		if err := load.publish(ctx, b); err != nil {
			return nil, err
		}
	}
	if delayed > 0 {
		time.Sleep(after - time.Since(start))
		for _, b := range batches[first:] {
			if err := load.publish(ctx, b); err != nil {
				return nil, err
			}
		}
	}
	if err := load.wait(ctx); err != nil {
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
	if failed := load.failures(); failed > 0 {
		return nil, fmt.Errorf("%d URLs failed", failed)
	}
	return out, nil
}

// perURL is d in microseconds per one of n URLs.
func perURL(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }
