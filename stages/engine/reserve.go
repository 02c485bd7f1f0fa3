package engine

import "container/heap"

// The reserve: no flow takes every slot. (Layer 2, fair share: see the
// package doc.) FetchConfig.Reserve slots are
// kept for flows with nothing in flight: once Concurrency-Reserve
// requests are in flight, a grant goes only to a flow that has none, so
// one flow holds at most Concurrency-Reserve slots, and the last Reserve
// go one per flow. A one-URL batch therefore starts at once while up to
// Reserve other flows hold every slot they may (k hostile flows hold at
// most Concurrency-Reserve+k-1). Below that line stride scheduling shares
// the slots as before.
//
// The awake flows are split in two heaps by pass: those with nothing in
// flight (scheduler.awake) and those with requests in flight
// (scheduler.busy). While the reserve binds, a pick looks only in the
// first; otherwise in whichever has the lower top. A flow moves between
// them when its count in flight goes from 0 to 1 or back, so the reserve
// costs O(log flows) per grant and completion, and a busy flow is never
// made dormant by it (nothing to stir when a slot frees).

// DefaultReserve is the reserve for concurrency slots when none is set:
// one in 64, at least 1, and none when there is only one slot. Each
// reserved slot is one a batch running alone cannot use: a 2,000-URL
// batch of 100 ms URLs at 64 in flight took 3.74 s with 8 reserved and
// 3.34 s with 1 or none, so the default keeps what one hostile batch
// needs kept (a slot for everyone else) and costs a lone batch 1/64 of
// its parallelism at most.
func DefaultReserve(concurrency int) int {
	if concurrency <= 1 {
		return 0
	}
	return max(1, concurrency/64)
}

// slots is the scheduler's count of requests in flight and its two
// heaps of awake flows, split by the reserve.
type slots struct {
	awake       flowHeap // the flows that are not dormant, by (pass, served); with nothing in flight when a reserve is kept
	busy        flowHeap // the awake flows with requests in flight, when a reserve is kept
	inFlight    int      // requests granted and not yet finished, over all flows
	concurrency int
	reserve     int
}

// source is the heap the next flow of a pick comes from: nil when none
// may be looked at.
func (s *slots) source() *flowHeap {
	idle, busy := s.awake.Len() > 0, s.busy.Len() > 0
	if busy && !s.reserveBinds() && (!idle || s.busy.topBefore(s.awake)) {
		return &s.busy
	}
	if idle {
		return &s.awake
	}
	return nil
}

// reserveBinds reports whether only flows with nothing in flight may be
// granted now. Lanes woken on an opened gate then go no further than the
// gate's room: those of flows with requests in flight cannot take it, and
// waking more for them would park them again, all of them, at each grant.
func (s *slots) reserveBinds() bool {
	return s.reserve > 0 && s.inFlight >= s.concurrency-s.reserve
}

// topBefore reports whether h's top goes before o's: both must have one.
func (h flowHeap) topBefore(o flowHeap) bool { return flowHeap{h[0], o[0]}.Less(0, 1) }

// home is the heap f belongs in when awake.
func (s *slots) home(f *flowState) *flowHeap {
	if f.inFlight > 0 && s.reserve > 0 {
		return &s.busy
	}
	return &s.awake
}

// place moves f to its home heap, if it is awake in the other one.
func (s *slots) place(f *flowState) {
	want := s.home(f)
	if f.awake == want {
		return
	}
	if f.index >= 0 {
		heap.Remove(f.awake, f.index)
		f.awake = want
		heap.Push(want, f)
		return
	}
	f.awake = want
}

// took counts a grant's request in flight, for its flow f (nil: none)
// and in all.
func (s *slots) took(f *flowState) {
	s.inFlight++
	if f != nil {
		f.inFlight++
		if f.inFlight == 1 {
			s.place(f)
		}
	}
}

// released counts a request of flow f (nil: none) as over.
func (s *slots) released(f *flowState) {
	s.inFlight--
	if f != nil {
		f.inFlight--
		if f.inFlight == 0 {
			s.place(f)
		}
	}
}
