package connectors

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is a doubling pause with full jitter, between min and max.
type backoff struct {
	min, max, next time.Duration
}

func newBackoff(minPause, maxPause time.Duration) *backoff {
	return &backoff{min: minPause, max: maxPause, next: minPause}
}

func (b *backoff) reset() { b.next = b.min }

// sleep waits a random time up to the current pause, or until ctx ends,
// and doubles the pause.
func (b *backoff) sleep(ctx context.Context) {
	d := b.min + rand.N(b.next-b.min+1)
	b.next = min(2*b.next, b.max)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
