package engine

// admission counts the batches in the scheduler that only wait for their
// hosts, so that they do not keep other batches out: the fetch stage takes
// a new batch while fewer than MaxActive batches are busy (admitted, not
// done, not waiting) and fewer than MaxActive+MaxWaiting are admitted in
// all (each holds its decoded requests: the second bound keeps a flood of
// waiting batches within the configuration).
//
// A batch is waiting from when a pick finds it with nothing to start,
// nothing in flight, every result it has passed on and its URLs held by
// gates (a pace, a pause, robots.txt, a host's cap held by others), until
// anything stirs it (a gate wakes one of its lanes, a result of it moves
// on, a retry comes back): O(1) per change, nothing per grant.
type admission struct {
	waiting int
	told    int // waiting, as FetchConfig.OnWaiting last heard it
}

// tellWaiting tells FetchConfig.OnWaiting, if set, the number of waiting
// batches when it changed.
func (f *Fetch) tellWaiting(sched *scheduler) {
	if a := &sched.admission; f.cfg.OnWaiting != nil && a.waiting != a.told {
		a.told = a.waiting
		f.cfg.OnWaiting(a.waiting)
	}
}

// noteLook is told, by a pick, the index b may start now (-1: none).
func (s *scheduler) noteLook(b *batchState, i int) {
	switch {
	case i >= 0:
		b.unwait()
	case !b.waiting && b.admission != nil && b.inFlight == 0 && b.laneOf != nil && b.queued == b.sent && !s.stopping:
		b.waiting = true
		b.admission.waiting++
	}
}

// unwait counts b as busy again.
func (b *batchState) unwait() {
	if b.waiting {
		b.waiting = false
		b.admission.waiting--
	}
}

// busyBatches is how many of the active batches are not waiting on their hosts.
func (s *scheduler) busyBatches(active int) int { return active - s.admission.waiting }
