package connectors

import (
	"context"
	"time"

	"github.com/fetchstream/fetchstream/stages/backoff"
)

// pauses counts the failures in a row of a loop that must not spin (the
// JetStream pull loop) and sleeps the equal-jitter backoff after each.
type pauses struct {
	backoff.Exponential
	failures int
}

func newPauses(minPause, maxPause time.Duration) *pauses {
	return &pauses{Exponential: backoff.Exponential{Base: minPause, Max: maxPause, Jitter: backoff.Equal}}
}

// reset is called after a success: the next failure pauses the least.
func (p *pauses) reset() { p.failures = 0 }

// sleep waits the pause after one more failure, or until ctx ends.
func (p *pauses) sleep(ctx context.Context) {
	p.failures++
	backoff.Sleep(ctx, p.Delay(p.failures))
}
