package stages

import (
	"slices"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

// scheduler hands the fetch stage's global slots to the batches in
// progress: highest priority first, round-robin among equals, so a small
// batch starts at the next free slot however big the batches before it
// are. A batch that has had no slot for starveAfter goes first whatever its
// priority, so low priorities are slowed, never starved. Owned by the
// dispatcher goroutine.
type scheduler struct {
	globalCap   int
	perHost     int // 0: no per-host cap
	starveAfter time.Duration

	active       []*batchState
	cursor       int  // round-robin position in active
	mixed        bool // not all active batches have the same priority
	hostInFlight map[string]int
}

func newScheduler(globalCap, perHost int, starveAfter time.Duration) *scheduler {
	return &scheduler{globalCap: globalCap, perHost: perHost, starveAfter: starveAfter, hostInFlight: map[string]int{}}
}

func (s *scheduler) add(b *batchState) {
	s.active = append(s.active, b)
	s.mixed = s.mixed || b.job.Priority != s.active[0].job.Priority
}

func (s *scheduler) remove(b *batchState) {
	i := slices.Index(s.active, b)
	if i < 0 {
		return
	}
	s.active = slices.Delete(s.active, i, i+1)
	if i < s.cursor {
		s.cursor--
	}
	s.mixed = false
	for _, other := range s.active {
		s.mixed = s.mixed || other.job.Priority != s.active[0].job.Priority
	}
}

// next picks the batch and index to start now, or ok=false when no batch
// may start anything (all windows, batch caps or host caps are full).
func (s *scheduler) next(now time.Time) (b *batchState, index int, ok bool) {
	n := len(s.active)
	bestKey, bestPos := 0, -1
	for k := range n {
		pos := (s.cursor + k) % n
		candidate := s.active[pos]
		if !candidate.hasUnstarted() {
			continue
		}
		i := candidate.nextIndex(s.globalCap, s.hostFree)
		if i < 0 {
			continue
		}
		key := candidate.job.Priority
		if s.mixed && now.Sub(candidate.lastGrant) > s.starveAfter {
			key = wire.MaxPriority + 1
		}
		if bestPos < 0 || key > bestKey {
			b, index, bestKey, bestPos = candidate, i, key, pos
		}
		if !s.mixed {
			break
		}
	}
	if bestPos < 0 {
		return nil, -1, false
	}
	s.cursor = (bestPos + 1) % n
	b.start(index, now)
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
