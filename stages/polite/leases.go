package polite

import (
	"slices"
	"time"
)

// This file is a Gate's pace when a fleet shares it (see UseLeases): the
// gate no longer keeps a token bucket of its own but spends slots, times
// at which one request may start, leased from the fleet's pace for its
// key. Cost: O(1) amortized per Wait and Take, O(slots) per lease.

// leases is the slots a fleet-paced gate holds, in time order, from head
// on; taken counts the slots spent (for the stats); on is set by
// UseLeases. A gate holds it by value: a host with no pace allocates
// nothing for it.
type leases struct {
	on    bool
	slots []time.Time
	head  int
	taken uint64
}

// UseLeases makes the gate's pace, whenever it has one (SetPace, a
// Crawl-delay), the fleet's: a URL passes only on a slot leased with
// AddLease, at or after its time. The cap, pauses and robots.txt stay
// the gate's own. Slow-downs still lower Rate, which is what the next
// lease asks for.
func (g *Gate) UseLeases() {
	g.leased.on = true
}

// Rate is the gate's pace in requests a second, with slow-downs (0: none).
func (g *Gate) Rate() float64 {
	if g.lim == nil {
		return 0
	}
	return float64(g.lim.Limit())
}

// Burst is the gate's bucket size (1 when it has no pace).
func (g *Gate) Burst() int {
	if g.lim == nil {
		return 1
	}
	return g.lim.Burst()
}

// maxLateness is how late a leased slot may still be spent when the pace's
// interval is shorter: a slot is a start at its time, not a credit that
// piles up, but a lease takes a round trip to come.
const maxLateness = 50 * time.Millisecond

// NeedsLease reports whether a fleet-paced gate with a pace has no slot
// left at now (those later than an interval, or maxLateness when that is
// longer, are dropped).
func (g *Gate) NeedsLease(now time.Time) bool {
	if !g.leased.on || g.lim == nil {
		return false
	}
	g.dropStale(now)
	return g.leased.head == len(g.leased.slots)
}

// AddLease gives the gate slots leased from the fleet's pace, arrived at
// now. A lease that came so late that every slot is past spending still
// gives one, at now: each lease lets at least one URL go, however slow the
// round trip.
func (g *Gate) AddLease(slots []time.Time, now time.Time) {
	if !g.leased.on || len(slots) == 0 {
		return
	}
	if g.lim != nil && slots[len(slots)-1].Before(now.Add(-g.lateness())) {
		slots = []time.Time{now}
	}
	l := &g.leased
	l.slots, l.head = compactSlots(l.slots, l.head)
	l.slots = append(l.slots, slots...)
	if !slices.IsSortedFunc(l.slots, time.Time.Compare) {
		slices.SortFunc(l.slots, time.Time.Compare)
	}
}

// LeasesTaken counts the leased slots spent so far.
func (g *Gate) LeasesTaken() uint64 {
	if !g.leased.on {
		return 0
	}
	return g.leased.taken
}

// Leased reports whether the gate's pace is the fleet's.
func (g *Gate) Leased() bool { return g.leased.on }

// lateness is how late a slot may be spent: an interval, at least maxLateness.
func (g *Gate) lateness() time.Duration {
	return max(time.Duration(float64(time.Second)/float64(g.lim.Limit())), maxLateness)
}

func (g *Gate) dropStale(now time.Time) {
	l := &g.leased
	late := now.Add(-g.lateness())
	for l.head < len(l.slots) && l.slots[l.head].Before(late) {
		l.head++
	}
}

// leaseWait is when the next slot lets a URL pass (zero with none: the
// next lease is the event that opens the gate).
func (g *Gate) leaseWait(now time.Time) (until time.Time, none bool) {
	if g.NeedsLease(now) {
		return time.Time{}, true
	}
	return g.leased.slots[g.leased.head], false
}

// leaseRoom counts the slots due at now.
func (g *Gate) leaseRoom(now time.Time) int {
	g.dropStale(now)
	n := 0
	for _, t := range g.leased.slots[g.leased.head:] {
		if t.After(now) {
			break
		}
		n++
	}
	return n
}

// takeLease spends the slot due at now.
func (g *Gate) takeLease(now time.Time) {
	g.dropStale(now)
	if l := &g.leased; l.head < len(l.slots) && !l.slots[l.head].After(now) {
		l.head++
		l.taken++
	}
}

// leaseIdle reports whether no slot is still ahead.
func (g *Gate) leaseIdle(now time.Time) bool {
	l := &g.leased
	return l.head == len(l.slots) || l.slots[len(l.slots)-1].Before(now)
}

func compactSlots(s []time.Time, head int) ([]time.Time, int) {
	if head == 0 {
		return s, 0
	}
	n := copy(s, s[head:])
	return s[:n], 0
}
