package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/client"
)

// fairnessScenario runs once: a batch of 5,000 URLs of 200 ms at 64 alone,
// a 3-URL batch alone, then the two together with the small one sent
// 0.5 s in, and again with the big one split over 50 correlated messages
// and the small one sent by request-reply. The small batch must not wait
// for the big one, and the big one must not slow down much.
func (e *env) fairnessScenario(ctx context.Context) ([]Figure, error) {
	const bigN, delay = 5000, 200 * time.Millisecond
	url := e.target.url(delay)
	args := []string{"--concurrency", fmt.Sprint(P)}
	big := makeBatches("big", 1, bigN, url)
	small := makeBatches("small", 1, 3, url)
	bigAlone, err := e.runLoad(ctx, args, big)
	if err != nil {
		return nil, err
	}
	alone := bigAlone.wall
	e.logf("fairness: big batch alone %s", alone.Round(time.Millisecond))
	smallAlone, err := e.runLoad(ctx, args, small)
	if err != nil {
		return nil, err
	}
	c, s, err := e.service(ctx, args...)
	if err != nil {
		return nil, err
	}
	load, err := e.sendLoad(ctx, c, s, append(big, small...), 1, 500*time.Millisecond)
	c.stop()
	if err != nil {
		return nil, err
	}
	smallLatency, bigLatency := load.batchLatency("small-0"), load.batchLatency("big-0")
	e.logf("fairness: with a small batch at 0.5s: small answered in %s, big took %s", smallLatency.Round(time.Millisecond), bigLatency.Round(time.Millisecond))
	splitSmall, splitBig, err := e.fairnessSplit(ctx, args, url, bigN)
	if err != nil {
		return nil, err
	}
	e.logf("fairness: big split over 50, small by request-reply: small %s, big %s", splitSmall.Round(time.Millisecond), splitBig.Round(time.Millisecond))
	return []Figure{
		figure("fairness", "big batch alone", "s", "", []float64{alone.Seconds()}),
		figure("fairness", "small batch latency, alone", "ms", "", []float64{ms(smallAlone.batchLatency("small-0"))}),
		figure("fairness", "small batch latency, big one running", "ms", "< 1000", []float64{ms(smallLatency)}),
		figure("fairness", "big batch slowdown with the small one", "x", "<= 1.05", []float64{bigLatency.Seconds() / alone.Seconds()}),
		figure("fairness", "split big: small request-reply latency", "ms", "< 1000", []float64{ms(splitSmall)}),
		figure("fairness", "split big: slowdown vs alone", "x", "<= 1.05", []float64{splitBig.Seconds() / alone.Seconds()}),
	}, nil
}

// fairnessSplit sends the big batch as 50 correlated messages and the
// small one by request-reply 0.5 s in. The parts are cut as the Go
// client cuts a long list (client.Split): ids split-0-1, split-0-2, ...,
// sharing one correlation id.
func (e *env) fairnessSplit(ctx context.Context, args []string, url string, bigN int) (small, big time.Duration, err error) {
	parts, err := client.Split(makeBatches("split", 1, bigN, url)[0], bigN/50, e.nc.MaxPayload())
	if err != nil {
		return 0, 0, err
	}
	c, s, err := e.service(ctx, args...)
	if err != nil {
		return 0, 0, err
	}
	defer c.stop()
	load, cleanup, err := newLoadRun(e.nc, s, len(parts))
	if err != nil {
		return 0, 0, err
	}
	defer cleanup()
	start := time.Now()
	for _, p := range parts {
		if err := load.publish(ctx, p); err != nil {
			return 0, 0, err
		}
	}
	time.Sleep(500*time.Millisecond - time.Since(start))
	data, _ := json.Marshal([]string{url, url, url})
	sent := time.Now()
	reply, err := e.nc.RequestWithContext(ctx, s.in, data)
	if err != nil {
		return 0, 0, err
	}
	small = time.Since(sent)
	var results []wire.Result
	if err := json.Unmarshal(reply.Data, &results); err != nil || len(results) != 3 {
		return 0, 0, fmt.Errorf("small request-reply: %s", reply.Data)
	}
	if err := load.wait(ctx); err != nil {
		return 0, 0, err
	}
	return small, time.Since(start), nil
}
