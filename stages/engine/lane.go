package engine

import (
	"container/heap"
	"slices"
	"time"

	"github.com/fetchstream/fetchstream/stages/hostsignal"
	"github.com/fetchstream/fetchstream/stages/polite"
)

// This file is the politeness layer's state on the engine's side: per
// batch its lanes (batchHosts), and the gates they park on. What a lane
// knows of its batch, above it in the fair-share layer, is laneOwner.
// Costs: a URL is put in its lane once, O(1) amortized; a lane parks on
// a gate and is woken in O(1); a batch's ready lanes are a heap, O(log
// lanes) per start.

// batchHosts is a batch's side of politeness: each URL's lane, from when
// the window reaches it (laneOf nil: no per-host rule applies to the
// batch), the lanes whose heads may start (ready, lowest index first),
// and its retries handed back to wait for their hosts.
type batchHosts struct {
	laneOf      []*lane          // per URL its lane, from when it is scanned; nil when no gate applies
	lanes       []*lane          // each lane once
	lanesByKey  map[string]*lane // lanes by host key (and site, with robots.txt)
	obeysRobots bool
	flowRate    float64 // the batch's own lower per-host pace; 0: none
	ready       readyLanes
	scan        int                  // the lowest index not yet put in a lane
	retries     map[int]pendingRetry // retries handed back, waiting for their hosts
}

// drop empties the batch's lanes, for a batch that ended (expired): a
// lane parked on a gate is let go when the gate next wakes it.
func (bh *batchHosts) drop() {
	for _, l := range bh.lanes {
		l.count(-l.len())
		l.queue, l.head, l.owner, l.ready = nil, 0, nil, nil
	}
	bh.ready = nil
}

// resumed takes up index i when it is a retry handed back: its Resume,
// and the time it waited for its host before (nil, 0: it is none). The
// copy it makes is on the heap only for a retry.
func (bh *batchHosts) resumed(i int) (*hostsignal.Resume, time.Duration) {
	p, ok := bh.retries[i]
	if !ok {
		return nil, 0
	}
	delete(bh.retries, i)
	resume := p.resume
	return &resume, p.hostWait
}

// laneOwner is what a lane knows of its batch, which the fair-share layer
// keeps: stir it when the lane may start again, and whether its flow has
// requests in flight (while the reserve binds, such a lane cannot take a
// gate's room).
type laneOwner interface {
	stir()
	flowBusy() bool
}

// lane is a batch's URLs that pass the same gates (one host, with or
// without robots.txt), scanned into the window and not yet started, in
// index order. A lane is in one of three places: in its batch's ready
// heap (its head may start once its gates pass), parked on the one gate
// that holds it, or nowhere when empty. So a URL whose host holds it costs
// nothing per grant: its lane is parked, and the scheduler looks at it
// again only when that gate wakes it.
type lane struct {
	owner    laneOwner   // its batch; nil once the batch ended
	ready    *readyLanes // its batch's ready heap
	gates    []*gate     // the host's first; none for a URL with no host (it fails without a request)
	robots   *gate       // the robots.txt gate among gates, when the batch obeys robots.txt
	queue    []laneEntry
	head     int
	parkedOn *gate
	parks    uint32 // times parked: an entry queued before the last park waited for its host
	heapAt   int    // index in the batch's ready heap; -1 when not in it
}

type laneEntry struct {
	index  int
	queued time.Time
	parks  uint32 // the lane's parks when the entry was queued
}

// host is the lane's host gate, nil for a URL with no host.
func (l *lane) host() *gate {
	if len(l.gates) == 0 {
		return nil
	}
	return l.gates[0]
}

// count adds n to the URLs queued on the lane's host gate.
func (l *lane) count(n int) {
	if g := l.host(); g != nil {
		g.queued += n
	}
}

func (l *lane) empty() bool { return l.head == len(l.queue) }

func (l *lane) front() laneEntry { return l.queue[l.head] }

func (l *lane) push(i int, now time.Time) {
	l.queue, l.head = compact(l.queue, l.head)
	parks := l.parks
	if l.parkedOn != nil {
		parks-- // queued behind a held gate: it waits from now
	}
	l.queue = append(l.queue, laneEntry{index: i, queued: now, parks: parks})
	l.count(1)
}

// insert puts back index i, started once and handed back, at its place
// in index order, as waiting for its gates from now.
func (l *lane) insert(i int, now time.Time) {
	k := l.head
	for k < len(l.queue) && l.queue[k].index < i {
		k++
	}
	l.queue = slices.Insert(l.queue, k, laneEntry{index: i, queued: now, parks: l.parks - 1})
	l.count(1)
}

// pop removes the head and returns how long it waited for its gates
// (zero when it never did).
func (l *lane) pop(now time.Time) time.Duration {
	e := l.queue[l.head]
	l.head++
	l.count(-1)
	if e.parks == l.parks {
		return 0
	}
	return now.Sub(e.queued)
}

func (l *lane) len() int { return len(l.queue) - l.head }

// blocking returns the first of the lane's gates that holds its head at
// now, with the time it will pass (zero: on an event), or nil.
func (l *lane) blocking(now time.Time) (*gate, time.Time) {
	for _, g := range l.gates {
		if until, blocked := g.Wait(now); blocked {
			return g, until
		}
	}
	return nil, time.Time{}
}

// compact readies a queue that is consumed from head on for an append:
// once it is empty, or full with half or more of it consumed, it moves
// what is left to the front, so a queue that never empties (a lane that
// keeps being fed as fast as it is served) stays within twice what it
// holds instead of growing by every entry that ever passed through it.
func compact[T any](queue []T, head int) ([]T, int) {
	if head == 0 || head < len(queue) && (len(queue) < cap(queue) || head < len(queue)/2) {
		return queue, head
	}
	n := copy(queue, queue[head:])
	clear(queue[n:])
	return queue[:n], 0
}

// readyLanes is a batch's lanes that may start, a min-heap by head index,
// so the batch starts its lowest startable index first.
type readyLanes []*lane

func (h readyLanes) Len() int           { return len(h) }
func (h readyLanes) Less(i, j int) bool { return h[i].front().index < h[j].front().index }
func (h readyLanes) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapAt, h[j].heapAt = i, j
}
func (h *readyLanes) Push(x any) {
	l := x.(*lane)
	l.heapAt = len(*h)
	*h = append(*h, l)
}
func (h *readyLanes) Pop() any {
	old := *h
	l := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	l.heapAt = -1
	return l
}

func (h *readyLanes) push(l *lane) {
	if l.heapAt < 0 {
		heap.Push(h, l)
	}
}

// pushOrFix puts l in the heap, or, when it is there, moves it to its
// new place after its head changed.
func (h *readyLanes) pushOrFix(l *lane) {
	if l.heapAt < 0 {
		heap.Push(h, l)
		return
	}
	heap.Fix(h, l.heapAt)
}

// popTop takes the top lane out of the heap.
func (h *readyLanes) popTop() { heap.Pop(h) }

// fixTop restores the heap after the top lane's head changed: it is
// taken out when empty.
func (h *readyLanes) fixTop() {
	if (*h)[0].empty() {
		heap.Pop(h)
		return
	}
	heap.Fix(h, 0)
}

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
// room (see hosts.admitOpened). So a token for a host that 256
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
	leasing bool      // a lease is asked of the fleet and not in yet
	// queued counts the URLs waiting in lanes whose host gate this is;
	// demand is the last told the fleet (demandSent), grant the number of
	// the fleet's last grant of permits applied.
	queued     int
	demand     demand
	demandSent bool
	grant      uint64
	// pausedBy names the replica that saw the pause in force (a fleet's)
	pausedBy string
	// the leased slots taken, and when, at the last stats
	statTaken uint64
	statAt    time.Time
}

func (g *gate) waiting() []*lane { return g.waiters[g.whead:] }

// idle reports whether the gate holds nothing a new lane would need: no
// lane uses it or waits on it, and its rules hold nothing (see
// polite.Gate.Idle). Such a gate may be forgotten.
func (g *gate) idle(now time.Time) bool {
	return g.refs == 0 && len(g.waiting()) == 0 && !g.opened && g.Gate.Idle(now)
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
		l.ready.push(l)
		l.owner.stir()
		if !reserveBinds || !l.owner.flowBusy() {
			n--
		}
	}
}

// wake hands every waiting lane back.
func (g *gate) wake() { g.wakeN(len(g.waiters), false) }
