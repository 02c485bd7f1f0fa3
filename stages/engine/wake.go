package engine

import (
	"container/heap"
	"time"
)

// This file is part of layer 3, politeness (see the package doc): the
// times at which held gates may pass, and the dispatcher's one timer for
// the earliest. Cost: O(log gates) per timer set, nothing per grant.

// wakeTimer is the dispatcher's one timer, set for the earliest time a
// held gate may pass.
type wakeTimer struct {
	t  *time.Timer
	at time.Time // zero: not set
}

func newWakeTimer() *wakeTimer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &wakeTimer{t: t}
}

// set arms the timer for at (zero: disarms it), unless it is set for at already.
func (w *wakeTimer) set(at, now time.Time) {
	if at.Equal(w.at) {
		return
	}
	w.at = at
	if at.IsZero() {
		w.t.Stop()
		return
	}
	w.t.Reset(max(at.Sub(now), 0))
}

// c is the channel to select on: nil while the timer is not set.
func (w *wakeTimer) c() <-chan time.Time {
	if w.at.IsZero() {
		return nil
	}
	return w.t.C
}

func (w *wakeTimer) fired() { w.at = time.Time{} }

func (w *wakeTimer) stop() { w.t.Stop() }

// gateTimer is a gate due to be woken at a time.
type gateTimer struct {
	at   time.Time
	gate *gate
}

// gateTimers is a min-heap of gate timers by time: O(log gates) per timer
// set. An entry whose time is no longer its gate's timerAt is stale and
// skipped.
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

// arm puts g in the heap for until, unless it is there for sooner (a zero
// until: an event will open it).
func (h *gateTimers) arm(g *gate, until time.Time) {
	if !until.IsZero() && (g.timerAt.IsZero() || until.Before(g.timerAt)) {
		g.timerAt = until
		heap.Push(h, gateTimer{at: until, gate: g})
	}
}

// next is the earliest timer's time (zero: none). A stale entry may make
// it early; the wake then finds nothing due and re-arms.
func (h gateTimers) next() time.Time {
	if len(h) == 0 {
		return time.Time{}
	}
	return h[0].at
}

// due hands open the gates whose time has come by now.
func (h *gateTimers) due(now time.Time, open func(*gate)) {
	for len(*h) > 0 {
		t := (*h)[0]
		if t.at.After(now) {
			return
		}
		heap.Pop(h)
		if t.gate.timerAt.Equal(t.at) {
			t.gate.timerAt = time.Time{}
			open(t.gate)
		}
	}
}
