package engine

import (
	"container/heap"
	"slices"
	"time"
)

// lane is a batch's URLs that pass the same gates (one host, with or
// without robots.txt), scanned into the window and not yet started, in
// index order. A lane is in one of three places: in its batch's ready
// heap (its head may start once its gates pass), parked on the one gate
// that holds it, or nowhere when empty. So a URL whose host holds it costs
// nothing per grant: its lane is parked, and the scheduler looks at it
// again only when that gate wakes it.
type lane struct {
	batch    *batchState
	gates    []*gate // the host's first; none for a URL with no host (it fails without a request)
	robots   *gate   // the robots.txt gate among gates, when the batch obeys robots.txt
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

func (l *lane) empty() bool { return l.head == len(l.queue) }

func (l *lane) front() laneEntry { return l.queue[l.head] }

func (l *lane) push(i int, now time.Time) {
	l.queue, l.head = compact(l.queue, l.head)
	parks := l.parks
	if l.parkedOn != nil {
		parks-- // queued behind a held gate: it waits from now
	}
	l.queue = append(l.queue, laneEntry{index: i, queued: now, parks: parks})
}

// insert puts back index i, started once and handed back, at its place
// in index order, as waiting for its gates from now.
func (l *lane) insert(i int, now time.Time) {
	k := l.head
	for k < len(l.queue) && l.queue[k].index < i {
		k++
	}
	l.queue = slices.Insert(l.queue, k, laneEntry{index: i, queued: now, parks: l.parks - 1})
}

// pop removes the head and returns how long it waited for its gates
// (zero when it never did).
func (l *lane) pop(now time.Time) time.Duration {
	e := l.queue[l.head]
	l.head++
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
