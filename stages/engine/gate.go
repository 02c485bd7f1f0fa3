package engine

import (
	"time"

	"github.com/fetchstream/fetchstream/stages/engine/polite"
)

// gate is a politeness rule (polite.Gate: a host's cap, pace and pauses,
// a site's robots.txt, a flow's own pace for a host) with what the engine
// keeps on it: the lanes parked on it and its place in the timer heap.
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
	polite.Gate
	key  string
	refs int // lanes of active batches that pass this gate

	waiters []*lane // parked lanes, from whead on
	whead   int
	opened  bool      // in the scheduler's opened list
	timerAt time.Time // when the gate is due in the timer heap; zero: not in it
}

func (g *gate) waiting() []*lane { return g.waiters[g.whead:] }

// idle reports whether the gate holds nothing a new lane would need: no
// lane uses it or waits on it, and its rules hold nothing (see
// polite.Gate.Idle). Such a gate may be forgotten.
func (g *gate) idle(now time.Time) bool {
	return g.refs == 0 && len(g.waiting()) == 0 && !g.opened && g.Gate.Idle(now)
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
		until, blocked := g.Wait(now)
		if blocked || len(g.waiting()) == 0 {
			g.opened = false
			if blocked && len(g.waiting()) > 0 {
				s.arm(g, until) // zero until: the event that holds it opens it again
			}
			continue
		}
		g.wakeN(g.Room(now), s.reserveBinds())
		woke = true
		kept = append(kept, g)
	}
	clear(s.opened[len(kept):])
	s.opened = kept
	return woke
}
