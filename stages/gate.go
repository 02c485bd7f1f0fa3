package stages

import (
	"container/heap"
	"math/rand/v2"
	"time"

	"golang.org/x/time/rate"
)

// gate is one thing a URL may have to wait for before its request starts:
// its host (cap on requests in flight, pace, pause), its site's robots.txt
// (fetched yet? Crawl-delay), or its batch's own lower pace for the host.
// A URL passes all the gates of its lane (see lane) or waits. Gates are
// owned by the dispatcher goroutine.
//
// A blocked gate keeps the lanes parked on it (waiters) and wakes them all
// when it may pass again: on an event (a request to the host finished, the
// robots.txt arrived) or at a time (a token, the end of a pause), for
// which it is in the scheduler's timer heap. Woken lanes check again, so a
// gate that wakes too early or for too many costs a re-park, not a wrong
// start.
type gate struct {
	key  string
	refs int // lanes of active batches that pass this gate

	// The cap on requests in flight; 0: none.
	limit    int
	inFlight int

	// The pace: a token bucket, nil when none. base is its rate before
	// slow-downs; factor (from 1 down) is what slow-downs left of it.
	lim    *rate.Limiter
	base   rate.Limit
	factor float64
	// jitter, a fraction of the pace's interval, holds the gate for a
	// random part of it after each start (until notBefore).
	jitter    float64
	notBefore time.Time

	// pausedUntil: the host asked for a pause (429 or 503 with Retry-After).
	pausedUntil time.Time

	// robots is set on a robots.txt gate: the site's rules once fetched.
	robots *robotsEntry

	waiters []*lane
	timerAt time.Time // when the gate is due in the timer heap; zero: not in it
}

// wait reports whether the gate holds a URL at now and, when a time ends
// the hold, that time (zero when an event must: a request finishing, the
// robots.txt arriving).
func (g *gate) wait(now time.Time) (until time.Time, blocked bool) {
	if g.limit > 0 && g.inFlight >= g.limit {
		return time.Time{}, true
	}
	if g.robots != nil && !g.robots.known() {
		return time.Time{}, true
	}
	until = g.pausedUntil
	if g.notBefore.After(until) {
		until = g.notBefore
	}
	if g.lim != nil {
		if tokens := g.lim.TokensAt(now); tokens < 1 {
			// Rounded up to the next microsecond, so that the token is
			// there when the timer fires.
			d := time.Duration((1-tokens)/float64(g.lim.Limit())*float64(time.Second)) + time.Microsecond
			if t := now.Add(d); t.After(until) {
				until = t
			}
		}
	}
	return until, until.After(now)
}

// take passes a URL through the gate at now: a token, a place in flight.
func (g *gate) take(now time.Time) {
	g.inFlight++
	if g.lim == nil {
		return
	}
	g.lim.AllowN(now, 1)
	if g.jitter > 0 {
		interval := float64(time.Second) / float64(g.lim.Limit())
		g.notBefore = now.Add(time.Duration(rand.Float64() * g.jitter * interval))
	}
}

// release ends a request that passed the gate, and wakes the lanes that
// waited for its cap.
func (g *gate) release() {
	atCap := g.limit > 0 && g.inFlight >= g.limit
	g.inFlight--
	if atCap {
		g.wake()
	}
}

// setPace sets the gate's pace to r requests a second (0: none) with a
// bucket of burst, keeping slow-downs in force.
func (g *gate) setPace(now time.Time, r float64, burst int, jitter float64) {
	if r <= 0 {
		g.lim, g.base = nil, 0
		return
	}
	g.base, g.jitter = rate.Limit(r), jitter
	if g.factor == 0 {
		g.factor = 1
	}
	if g.lim == nil {
		g.lim = rate.NewLimiter(g.base*rate.Limit(g.factor), max(burst, 1))
		return
	}
	g.lim.SetLimitAt(now, g.base*rate.Limit(g.factor))
}

// Slow-down bounds: a 429 or 503 without Retry-After halves the pace, down
// to minFactor of it; each success then gives back an eighth.
const (
	minFactor     = 1.0 / 64
	restoreFactor = 1.125
)

// slowDown halves the gate's pace (AutoThrottle style); a gate without a
// pace is left alone.
func (g *gate) slowDown(now time.Time) {
	if g.lim == nil {
		return
	}
	g.factor = max(g.factor/2, minFactor)
	g.lim.SetLimitAt(now, g.base*rate.Limit(g.factor))
}

// succeeded gives a slowed gate back part of its pace.
func (g *gate) succeeded(now time.Time) {
	if g.lim == nil || g.factor >= 1 {
		return
	}
	g.factor = min(g.factor*restoreFactor, 1)
	g.lim.SetLimitAt(now, g.base*rate.Limit(g.factor))
}

// idle reports whether the gate holds nothing a new lane would need: no
// lane uses it, nothing in flight, no pause or slow-down in force, a full
// bucket, no robots.txt worth keeping. Such a gate may be forgotten.
func (g *gate) idle(now time.Time) bool {
	switch {
	case g.refs > 0, g.inFlight > 0, len(g.waiters) > 0, g.pausedUntil.After(now), g.notBefore.After(now):
		return false
	case g.lim != nil && (g.factor < 1 || g.lim.TokensAt(now) < float64(g.lim.Burst())):
		return false
	case g.robots != nil && (g.robots.fetching || g.robots.fresh(now)):
		return false
	}
	return true
}

// park makes l wait on g, until the time given (zero: until an event).
func (s *scheduler) park(l *lane, g *gate, until time.Time) {
	l.parkedOn = g
	l.parks++
	g.waiters = append(g.waiters, l)
	if !until.IsZero() && (g.timerAt.IsZero() || until.Before(g.timerAt)) {
		g.timerAt = until
		heap.Push(&s.timers, gateTimer{at: until, gate: g})
	}
}

// wake hands the gate's waiting lanes back to their batches, to be
// checked again at the next grant.
func (g *gate) wake() {
	for _, l := range g.waiters {
		l.parkedOn = nil
		if !l.empty() {
			l.batch.ready.push(l)
		}
	}
	clear(g.waiters)
	g.waiters = g.waiters[:0]
}

// gateTimer is a gate due to be woken at a time.
type gateTimer struct {
	at   time.Time
	gate *gate
}

// gateTimers is a min-heap of gate timers by time. An entry whose time is
// no longer its gate's timerAt is stale and skipped.
type gateTimers []gateTimer

func (h gateTimers) Len() int           { return len(h) }
func (h gateTimers) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h gateTimers) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *gateTimers) Push(x any)        { *h = append(*h, x.(gateTimer)) }
func (h *gateTimers) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = gateTimer{}
	*h = old[:len(old)-1]
	return x
}

// wakeDue wakes the gates whose time has come.
func (s *scheduler) wakeDue(now time.Time) {
	for len(s.timers) > 0 {
		t := s.timers[0]
		if t.at.After(now) {
			return
		}
		heap.Pop(&s.timers)
		if t.gate.timerAt.Equal(t.at) {
			t.gate.timerAt = time.Time{}
			t.gate.wake()
		}
	}
}
