package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// jetStreamShapes are the loads of the jetstream scenario: the same URLs
// as many one-URL batches (the per-batch costs dominate: a stored message,
// a pull, an ack) and as fewer batches of 20.
var jetStreamShapes = []struct {
	name          string
	batches, size int
}{
	{"1-URL batches", 20000, 1},
	{"20-URL batches", 2000, 20},
}

// jetStreamScenario measures what JetStream mode costs beside core mode:
// in each round, the same zero-delay load goes through a core service and
// through a JetStream service (on a stream of its own, deleted after), in
// an order that alternates from round to round, for each shape.
func (e *env) jetStreamScenario(ctx context.Context) ([]Figure, error) {
	url := e.target.url(0)
	var figures []Figure
	for _, shape := range jetStreamShapes {
		var jsRate, coreRate, ratio, jsCPU, coreCPU, jsBenchCPU, coreBenchCPU []float64
		for run := range e.cfg.Rounds {
			modes := []bool{false, true} // JetStream?
			if run%2 == 1 {
				slices.Reverse(modes)
			}
			rates := map[bool]float64{}
			for _, jetStream := range modes {
				name := fmt.Sprintf("%s_%d_%d", e.runID, shape.size, run)
				args := []string{"--concurrency", fmt.Sprint(P)}
				if jetStream {
					args = append(args, "--jetstream", "--stream", "BENCH_"+name, "--dead-letter", "bench.dead."+name)
				} else { // the load comes at once: room for all of it, or NATS drops some
					args = append(args, "--pending-batches", fmt.Sprint(shape.batches))
				}
				batches := makeBatches(fmt.Sprintf("js-%d-%d-%t", shape.size, run, jetStream), shape.batches, shape.size, url)
				load, err := e.runLoad(ctx, args, batches)
				if jetStream {
					e.deleteStream("BENCH_" + name) // the service has stopped: runLoad waits for it
				}
				if err == nil {
					err = load.allResults(shape.batches * shape.size)
				}
				if err != nil {
					return nil, fmt.Errorf("%s, jetstream=%t: %w", shape.name, jetStream, err)
				}
				urls := float64(shape.batches * shape.size)
				rates[jetStream] = urls / load.wall.Seconds()
				service, bench := perURL(load.serviceCPU, int(urls)), perURL(load.benchCPU, int(urls))
				if jetStream {
					jsCPU, jsBenchCPU = append(jsCPU, service), append(jsBenchCPU, bench)
				} else {
					coreCPU, coreBenchCPU = append(coreCPU, service), append(coreBenchCPU, bench)
				}
			}
			jsRate, coreRate = append(jsRate, rates[true]), append(coreRate, rates[false])
			ratio = append(ratio, rates[true]/rates[false])
			e.logf("jetstream round %d, %s: JetStream %.0f URLs/s, core %.0f URLs/s, ratio %.3f",
				run+1, shape.name, rates[true], rates[false], ratio[run])
		}
		figures = append(figures,
			figure("jetstream", shape.name+": JetStream URLs/s", "URLs/s", "", jsRate),
			figure("jetstream", shape.name+": core URLs/s", "URLs/s", "", coreRate),
			figure("jetstream", shape.name+": JetStream / core", "x", "", ratio),
			figure("jetstream", shape.name+": service process CPU per URL, JetStream", "µs", "", jsCPU),
			figure("jetstream", shape.name+": service process CPU per URL, core", "µs", "", coreCPU),
			// The stream's storage, pulls and acks run in the NATS server:
			// in this process when the bench runs its own.
			figure("jetstream", shape.name+": bench process CPU per URL (NATS, target, load), JetStream", "µs", "", jsBenchCPU),
			figure("jetstream", shape.name+": bench process CPU per URL (NATS, target, load), core", "µs", "", coreBenchCPU))
	}
	return figures, nil
}

// deleteStream removes a stream the bench had a service create. Its names
// carry the invocation's runID, so that a stream left on a joined server
// by an earlier, killed bench is never reused or deleted.
func (e *env) deleteStream(stream string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(e.nc)
	if err == nil {
		err = js.DeleteStream(ctx, stream)
	}
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) { // not found: the service failed before creating it
		e.logf("could not delete the bench stream %s: %v", stream, err)
	}
}
