package stages

import (
	"slices"

	"github.com/fetchstream/fetchstream/wire"
)

// scheduler hands the fetch stage's global slots to the batches in
// progress by stride scheduling over flows. A flow is a batch, or the
// batches that share a correlation id (one long list split by the client),
// served in arrival order. Each grant goes to the flow with the lowest
// pass among those that can start a URL now; the flow's pass then moves on
// by its stride, 2^(MaxPriority-priority). So equal flows take turns
// (round-robin: a 3-URL batch starts at the next free slots however big
// the batches before it), each priority level up doubles a flow's share,
// and no flow with startable URLs starves. A new flow starts at the
// current virtual time, so it is served at once without a backlog of
// credit. Owned by the fetch stage's dispatcher goroutine.
type scheduler struct {
	globalCap int
	perHost   int // 0: no per-host cap

	flows        []*flowState // in arrival order; scanned round-robin from cursor
	byKey        map[string]*flowState
	cursor       int
	vtime        uint64 // pass of the last grant
	hostInFlight map[string]int
}

// flowState is one fair-share unit: its batches in arrival order.
type flowState struct {
	key     string
	batches []*batchState
	pass    uint64
	stride  uint64
}

func newScheduler(globalCap, perHost int) *scheduler {
	return &scheduler{globalCap: globalCap, perHost: perHost, byKey: map[string]*flowState{}, hostInFlight: map[string]int{}}
}

func strideOf(priority int) uint64 {
	priority = min(max(priority, wire.MinPriority), wire.MaxPriority)
	return 1 << (wire.MaxPriority - priority)
}

func (s *scheduler) add(b *batchState) {
	stride := strideOf(b.job.Priority)
	f := s.byKey[b.job.Flow]
	if f == nil {
		f = &flowState{key: b.job.Flow, pass: s.vtime, stride: stride}
		s.byKey[f.key] = f
		s.flows = append(s.flows, f)
	}
	f.stride = min(f.stride, stride) // the flow's most urgent batch sets its share
	f.batches = append(f.batches, b)
}

func (s *scheduler) remove(b *batchState) {
	f := s.byKey[b.job.Flow]
	if f == nil {
		return
	}
	if i := slices.Index(f.batches, b); i >= 0 {
		f.batches = slices.Delete(f.batches, i, i+1)
	}
	if len(f.batches) > 0 {
		return
	}
	delete(s.byKey, f.key)
	i := slices.Index(s.flows, f)
	s.flows = slices.Delete(s.flows, i, i+1)
	if i < s.cursor {
		s.cursor--
	}
	if s.cursor >= len(s.flows) {
		s.cursor = 0
	}
}

// next picks the batch and index to start now and marks it started, or
// returns ok=false when nothing may start (every window, batch cap and
// host cap is full).
func (s *scheduler) next() (b *batchState, index int, ok bool) {
	n := len(s.flows)
	bestPos := -1
	var best *flowState
	for k := range n {
		pos := (s.cursor + k) % n
		f := s.flows[pos]
		if best != nil && f.pass >= best.pass {
			continue
		}
		for _, candidate := range f.batches {
			if i := candidate.nextIndex(s.globalCap, s.hostFree); i >= 0 {
				b, index, best, bestPos = candidate, i, f, pos
				break
			}
		}
	}
	if best == nil {
		return nil, -1, false
	}
	s.cursor = (bestPos + 1) % n
	s.vtime = max(s.vtime, best.pass)
	best.pass = s.vtime + best.stride
	b.start(index)
	if b.hosts != nil {
		s.hostInFlight[b.hosts[index]]++
	}
	return b, index, true
}

// finished releases index's host slot.
func (s *scheduler) finished(b *batchState, index int) {
	if b.hosts == nil {
		return
	}
	host := b.hosts[index]
	if s.hostInFlight[host]--; s.hostInFlight[host] <= 0 {
		delete(s.hostInFlight, host)
	}
}

func (s *scheduler) hostFree(host string) bool { return s.hostInFlight[host] < s.perHost }
