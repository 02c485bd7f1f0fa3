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
//
// This file is part of layer 2, fair share (see the package doc).
type admission struct {
	waiting int
	told    int // waiting, as FetchConfig.OnWaiting last heard it
}

// tell tells onWaiting, if set, the number of waiting batches when it
// changed.
func (a *admission) tell(onWaiting func(int)) {
	if onWaiting != nil && a.waiting != a.told {
		a.told = a.waiting
		onWaiting(a.waiting)
	}
}

// busy is how many of the active batches are not waiting on their hosts.
func (a *admission) busy(active int) int { return active - a.waiting }

// waitMark is a batch's place in the admission count.
type waitMark struct {
	waiting   bool       // counted in admission.waiting
	admission *admission // the scheduler's; nil outside one
}

// markWaiting counts the batch as waiting, unless it is already.
func (w *waitMark) markWaiting() {
	if !w.waiting && w.admission != nil {
		w.waiting = true
		w.admission.waiting++
	}
}

// unwait counts the batch as busy again.
func (w *waitMark) unwait() {
	if w.waiting {
		w.waiting = false
		w.admission.waiting--
	}
}
