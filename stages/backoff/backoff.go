// Package backoff is fetchstream's one jittered exponential backoff: the
// pause before a retried request (stages/httpfetch), after a failed pull
// from JetStream (connectors) and between passes over the NATS server list
// (the service's reconnects).
//
// Attempt n (from 1) has the ceiling min(Max, Base·2^(n-1)); the pause is
// random below it, so that many clients failing together do not come back
// in lockstep. Full jitter spreads it over [0, ceiling), the best spread;
// Equal keeps it in [ceiling/2, ceiling], for waits that must not be near
// zero (a reconnect loop, a pull loop against a server that is down).
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Jitter says how the pause is drawn below its ceiling.
type Jitter int

const (
	Full  Jitter = iota // uniform in [0, ceiling)
	Equal               // uniform in [ceiling/2, ceiling]
)

// Exponential is a doubling ceiling with jitter. The zero value has no
// pause at all. It is a value: safe to copy and to use from many
// goroutines.
type Exponential struct {
	Base, Max time.Duration
	Jitter    Jitter
}

// Ceiling is attempt n's ceiling: min(Max, Base·2^(n-1)), for n from 1
// (n below 1 counts as 1).
func (e Exponential) Ceiling(n int) time.Duration {
	ceiling := e.Base
	for i := 1; i < n && ceiling < e.Max; i++ {
		ceiling *= 2
	}
	return min(ceiling, e.Max)
}

// Delay is attempt n's pause, drawn afresh at each call.
func (e Exponential) Delay(n int) time.Duration {
	ceiling := e.Ceiling(n)
	if ceiling <= 0 {
		return 0
	}
	if e.Jitter == Equal {
		return ceiling/2 + rand.N(ceiling-ceiling/2+1)
	}
	return rand.N(ceiling)
}

// Sleep waits for d, or returns false as soon as ctx is done (also when it
// is done already, whatever d).
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
