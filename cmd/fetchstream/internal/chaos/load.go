package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/throwaway"
	"github.com/fetchstream/fetchstream/connectors/chaostest"
)

// startTarget serves httpbin on a loopback port until ctx ends and
// returns its base URL, and an address where nothing listens (a URL
// there fails as connection_error).
func startTarget(ctx context.Context) (base, closed string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", err
	}
	go func() { _ = throwaway.Serve(ctx, ln, throwaway.Target(10*time.Second)) }()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", err
	}
	closed = "http://" + dead.Addr().String()
	dead.Close()
	return "http://" + ln.Addr().String(), closed, nil
}

// mix is the URLs of one batch of n: about half fast (/get), a third
// slow (100-500 ms), the rest failing (500, 404, a refused connection).
func mix(rng *rand.Rand, base, closed string, n int) []string {
	urls := make([]string, n)
	for i := range urls {
		switch p := rng.IntN(100); {
		case p < 50:
			urls[i] = fmt.Sprintf("%s/get?i=%d", base, i)
		case p < 80:
			urls[i] = fmt.Sprintf("%s/delay/%dms", base, 100+rng.IntN(401))
		case p < 88:
			urls[i] = base + "/status/500"
		case p < 96:
			urls[i] = base + "/status/404"
		default:
			urls[i] = closed + "/refused"
		}
	}
	return urls
}

// loader publishes batches into the input stream at a steady rate, each
// by JetStream publish with its id as Nats-Msg-Id, retried (the same id,
// so stored once) until the stream acknowledges it or a minute passes.
// It keeps the batches acknowledged. Safe for concurrent use.
type loader struct {
	js      jetstream.JetStream
	subject string
	prefix  string
	rng     *rand.Rand
	base    string
	closed  string
	minURLs int
	maxURLs int

	mu       sync.Mutex
	acked    []chaostest.Batch
	unacked  int
	retried  int // publishes that took more than one try
	slowest  time.Duration
	inflight sync.WaitGroup
}

// run publishes rate batches a second until ctx ends, then waits for
// the publishes under way, and returns how many it began.
func (l *loader) run(ctx context.Context, rate float64) int {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	sem := make(chan struct{}, 256)
	n := 0
	for {
		select {
		case <-ctx.Done():
			l.inflight.Wait()
			return n
		case <-tick.C:
		}
		id := fmt.Sprintf("%s-%05d", l.prefix, n)
		urls := mix(l.rng, l.base, l.closed, l.minURLs+l.rng.IntN(l.maxURLs-l.minURLs+1))
		data, _ := json.Marshal(map[string]any{"id": id, "urls": urls})
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		n++
		l.inflight.Add(1)
		go func() {
			defer func() { <-sem; l.inflight.Done() }()
			l.publish(id, len(urls), data)
		}()
	}
}

func (l *loader) publish(id string, n int, data []byte) {
	start := time.Now()
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		ack, err := l.js.Publish(ctx, l.subject, data, jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			l.mu.Lock()
			l.acked = append(l.acked, chaostest.Batch{ID: id, URLs: n, Stream: ack.Stream, Seq: ack.Sequence})
			if try > 0 {
				l.retried++
			}
			l.slowest = max(l.slowest, time.Since(start))
			l.mu.Unlock()
			return
		}
		if time.Since(start) > time.Minute {
			l.mu.Lock()
			l.unacked++
			l.mu.Unlock()
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// result is the batches acknowledged, those given up on, the publishes
// retried and the longest time to an acknowledgement.
func (l *loader) result() (acked []chaostest.Batch, unacked, retried int, slowest time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]chaostest.Batch(nil), l.acked...), l.unacked, l.retried, l.slowest
}
