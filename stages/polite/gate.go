// Package polite holds fetchstream's politeness rules, with no engine
// state: what counts as one host (HostKeyMode, Target), a gate's cap on
// requests in flight, pace, pauses and slow-downs (Gate), a site's
// robots.txt rules (Robots) and Crawl-delay bounds. The fetch engine
// (package stages/engine) asks a Gate "may a URL go now, and if not,
// when" and does the waiting itself; the decode stage (package stages)
// asks how a batch's URLs fall on hosts. It imports neither, so neither
// can reach into it but through these types. Nothing here is safe for
// concurrent use: the engine's dispatcher owns its gates.
package polite

import (
	"math/rand/v2"
	"time"

	"golang.org/x/time/rate"
)

// Gate is one politeness rule a URL must pass before its request starts:
// a host's cap on requests in flight, its pace and its pauses; a site's
// robots.txt and Crawl-delay; or a flow's own lower pace for a host. Its
// methods are the whole of what the fetch engine asks of politeness:
//
//   - Wait: may a URL go now, and if not, until when (zero: until an
//     event, a request ending or the robots.txt arriving);
//   - Take: one went; Release: one ended (and whether that made room);
//   - Succeeded, SlowDown, Pause: what the host said of it;
//   - Room, Idle, PausedAt: how many may go at once, whether it may be
//     forgotten, whether it is paused (for the engine's waking, sweeping
//     and reports).
//
// A Gate does no waiting of its own and starts nothing: the engine parks
// what it holds and asks again when its time or its event comes. Each
// call is O(1). Not safe for concurrent use: the engine's dispatcher owns
// its gates.
type Gate struct {
	// The cap on requests in flight; 0: none. With permitted (a fleet's
	// cap, see UsePermits), permits is this replica's part of it.
	limit     int
	inFlight  int
	permitted bool
	permits   int

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
	robots *Robots

	// leased is set when the pace is the fleet's (see UseLeases): lim
	// then only holds the rate that leases ask for.
	leased leases
}

// NewHostGate is a host's gate: at most limit requests in flight (0: no
// cap), paced at perSecond (0: no pace) with a bucket of burst and jitter
// (0 to 1) of the interval after each start.
func NewHostGate(now time.Time, limit int, perSecond float64, burst int, jitter float64) Gate {
	g := Gate{limit: limit, factor: 1}
	g.SetPace(now, perSecond, burst, jitter)
	return g
}

// NewPaceGate is a pace alone, of perSecond with a bucket of 1: a flow's
// own lower rate for one host.
func NewPaceGate(now time.Time, perSecond float64) Gate { return NewHostGate(now, 0, perSecond, 1, 0) }

// NewRobotsGate is a site's robots.txt gate: it holds every URL until the
// rules are in (see RobotsFetched), then paces them by the Crawl-delay.
func NewRobotsGate(origin string) Gate {
	return Gate{factor: 1, robots: &Robots{Origin: origin}}
}

// Robots is the site's rules on a robots.txt gate; nil on any other.
func (g *Gate) Robots() *Robots { return g.robots }

// Wait reports whether the gate holds a URL at now and, when a time ends
// the hold, that time (zero when an event must: a request finishing, the
// robots.txt arriving).
func (g *Gate) Wait(now time.Time) (until time.Time, blocked bool) {
	if limit, capped := g.capNow(); capped && g.inFlight >= limit {
		return time.Time{}, true
	}
	if g.robots != nil && !g.robots.Known() {
		return time.Time{}, true
	}
	until = g.pausedUntil
	if g.notBefore.After(until) {
		until = g.notBefore
	}
	if g.lim != nil && g.leased.on {
		if until.After(now) {
			return until, true // paused: no lease until it ends
		}
		slot, none := g.leaseWait(now)
		if none {
			return time.Time{}, true // until the next lease arrives
		}
		if slot.After(until) {
			until = slot
		}
	} else if g.lim != nil {
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

// Take passes a URL through the gate at now: a token, a place in flight.
func (g *Gate) Take(now time.Time) {
	g.inFlight++
	if g.lim == nil {
		return
	}
	if g.leased.on {
		g.takeLease(now)
	} else {
		g.lim.AllowN(now, 1)
	}
	if g.jitter > 0 {
		interval := float64(time.Second) / float64(g.lim.Limit())
		g.notBefore = now.Add(time.Duration(rand.Float64() * g.jitter * interval))
	}
}

// Release ends a request that passed the gate, and reports whether that
// made room under its cap.
func (g *Gate) Release() (freed bool) {
	limit, capped := g.capNow()
	atCap := capped && g.inFlight >= limit
	g.inFlight--
	return atCap && g.inFlight < limit
}

// Room is how many URLs the gate, open at now, lets pass before it holds
// again: at least 1.
func (g *Gate) Room(now time.Time) int {
	n := 1 << 30
	if limit, capped := g.capNow(); capped {
		n = limit - g.inFlight
	}
	switch {
	case g.lim != nil && g.leased.on:
		n = min(n, g.leaseRoom(now))
	case g.lim != nil:
		n = min(n, int(g.lim.TokensAt(now)))
	}
	return max(n, 1)
}

// SetPace sets the gate's pace to perSecond requests a second (0: none)
// with a bucket of burst, keeping slow-downs in force.
func (g *Gate) SetPace(now time.Time, perSecond float64, burst int, jitter float64) {
	if perSecond <= 0 {
		g.lim, g.base = nil, 0
		return
	}
	g.base, g.jitter = rate.Limit(perSecond), jitter
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

// SlowDown halves the gate's pace (AutoThrottle style): the host answered
// 429 or 503 without Retry-After. A gate without a pace is left alone.
func (g *Gate) SlowDown(now time.Time) {
	if g.lim == nil {
		return
	}
	g.factor = max(g.factor/2, minFactor)
	g.lim.SetLimitAt(now, g.base*rate.Limit(g.factor))
}

// Pause holds the gate until until (a Retry-After), unless it is held
// longer already.
func (g *Gate) Pause(until time.Time) {
	if until.After(g.pausedUntil) {
		g.pausedUntil = until
	}
}

// PausedUntil is the end of the latest pause (zero: none yet).
func (g *Gate) PausedUntil() time.Time { return g.pausedUntil }

// PausedAt reports whether a pause holds the gate at now.
func (g *Gate) PausedAt(now time.Time) bool { return g.pausedUntil.After(now) }

// Succeeded gives a slowed gate back part of its pace.
func (g *Gate) Succeeded(now time.Time) {
	if g.lim == nil || g.factor >= 1 {
		return
	}
	g.factor = min(g.factor*restoreFactor, 1)
	g.lim.SetLimitAt(now, g.base*rate.Limit(g.factor))
}

// Idle reports whether the gate's rules hold nothing a new URL would
// need: nothing in flight, no pause or slow-down in force, a full bucket,
// no robots.txt worth keeping, no permits of a fleet's cap (the fleet
// takes them back first). The engine forgets such a gate once no one
// waits on it.
func (g *Gate) Idle(now time.Time) bool {
	switch {
	case g.inFlight > 0, g.pausedUntil.After(now), g.notBefore.After(now), g.permitted && g.permits > 0:
		return false
	case g.lim != nil && g.leased.on && (g.factor < 1 || !g.leaseIdle(now)):
		return false
	case g.lim != nil && !g.leased.on && (g.factor < 1 || g.lim.TokensAt(now) < float64(g.lim.Burst())):
		return false
	case g.robots != nil && (g.robots.Fetching || g.robots.Fresh(now)):
		return false
	}
	return true
}

// RobotsFetched files a robots.txt fetch on g, a robots.txt gate, at now:
// its rules, kept ttl (less when it could not be read), and the
// Crawl-delay for agent (bounded by maxPause: see CrawlDelay) as the
// gate's pace. The site's URLs may then go on.
func (g *Gate) RobotsFetched(r RobotsFetch, ttl time.Duration, agent string, maxPause time.Duration, now time.Time) {
	e := g.robots
	e.Fetching = false
	data, keep := robotsRules(r, ttl)
	e.data, e.expires = data, now.Add(keep-r.Age)
	pace := 0.0
	if d := CrawlDelay(data.FindGroup(agent).CrawlDelay, maxPause); d > 0 {
		pace = float64(time.Second) / float64(d)
	}
	g.SetPace(now, pace, 1, 0)
}
