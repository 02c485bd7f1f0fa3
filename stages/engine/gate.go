package engine

import (
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
// A blocked gate keeps the lanes parked on it (waiters, first parked
// first) and, when it may pass again, on an event (a request to the host
// finished) or at a time (a token, the end of a pause, for which it is in
// the scheduler's timer heap), the scheduler opens it: it wakes as many
// lanes as the gate has room for, and more only if those do not take the
// room (see scheduler.admitOpened). So a token for a host that 256
// batches wait on wakes one lane, not 256. Woken lanes check again, so a
// gate that wakes too early costs a re-park, not a wrong start. The
// robots.txt arriving, and a stop, wake every lane at once.
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

	waiters []*lane // parked lanes, from whead on
	whead   int
	opened  bool      // in the scheduler's opened list
	timerAt time.Time // when the gate is due in the timer heap; zero: not in it
}

func (g *gate) waiting() []*lane { return g.waiters[g.whead:] }

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

// release ends a request that passed the gate, and reports whether that
// made room under its cap.
func (g *gate) release() (freed bool) {
	atCap := g.limit > 0 && g.inFlight >= g.limit
	g.inFlight--
	return atCap
}

// room is how many URLs the gate, open at now, lets pass before it holds
// again: at least 1.
func (g *gate) room(now time.Time) int {
	n := 1 << 30
	if g.limit > 0 {
		n = g.limit - g.inFlight
	}
	if g.lim != nil {
		n = min(n, int(g.lim.TokensAt(now)))
	}
	return max(n, 1)
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
	case g.refs > 0, g.inFlight > 0, len(g.waiting()) > 0, g.opened, g.pausedUntil.After(now), g.notBefore.After(now):
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
	s.work.parks++
	g.waiters, g.whead = compact(g.waiters, g.whead)
	g.waiters = append(g.waiters, l)
	s.arm(g, until)
}

// wakeN hands waiting lanes, first parked first, back to their batches,
// to be checked again at the next grant, until n of them can take the
// gate's room: a lane of a batch gone (expired) does not count, nor, while
// the reserve binds, one of a flow with requests in flight, which the
// reserve bars from the room (it is woken all the same, and parks again
// at its next look if it still cannot go).
func (g *gate) wakeN(n int, reserveBinds bool) {
	for n > 0 && g.whead < len(g.waiters) {
		l := g.waiters[g.whead]
		g.waiters[g.whead] = nil
		g.whead++
		l.parkedOn = nil
		if l.empty() {
			continue
		}
		l.batch.ready.push(l)
		l.batch.stir()
		if !reserveBinds || l.batch.flow == nil || l.batch.flow.inFlight == 0 {
			n--
		}
	}
}

// wake hands every waiting lane back.
func (g *gate) wake() { g.wakeN(len(g.waiters), false) }

// open marks g as passable again, so that the next grant wakes its
// waiting lanes as far as it has room.
func (s *scheduler) open(g *gate) {
	if !g.opened && len(g.waiting()) > 0 {
		g.opened = true
		s.opened = append(s.opened, g)
	}
}

// admitOpened wakes, for each opened gate, as many lanes as it has room
// for. A gate stays opened while it has room and waiting lanes: when the
// lanes woken did not take the room (their batch is at its own cap, or
// another gate holds them), the next call wakes more. It reports whether
// it woke any lane.
func (s *scheduler) admitOpened(now time.Time) bool {
	woke := false
	kept := s.opened[:0]
	for _, g := range s.opened {
		until, blocked := g.wait(now)
		if blocked || len(g.waiting()) == 0 {
			g.opened = false
			if blocked && len(g.waiting()) > 0 {
				s.arm(g, until) // zero until: the event that holds it opens it again
			}
			continue
		}
		g.wakeN(g.room(now), s.reserveBinds())
		woke = true
		kept = append(kept, g)
	}
	clear(s.opened[len(kept):])
	s.opened = kept
	return woke
}
