package engine

import "testing"

// idlePool is a pool of n idle workers that are only channels: shed and
// trim close them, and no goroutine is there to see it.
func idlePool(n int) (*workerPool, []worker) {
	p := &workerPool{}
	all := make([]worker, n)
	for i := range all {
		all[i] = make(worker, 1)
		p.idle(all[i])
	}
	p.fewestIdle = n
	return p, all
}

func closedWorkers(all []worker) (closed int) {
	for _, w := range all {
		select {
		case _, ok := <-w:
			if !ok {
				closed++
			}
		default:
		}
	}
	return closed
}

func TestWorkerPoolShedKeepsWhatIsInFlight(t *testing.T) {
	for _, c := range []struct{ idle, inFlight, kept int }{
		{idle: 10, inFlight: 0, kept: 10},                                          // under minIdleWorkers: all kept
		{idle: 1000, inFlight: 0, kept: minIdleWorkers},                            // a burst is over
		{idle: 1000, inFlight: 300, kept: 300},                                     // as many idle as in flight
		{idle: 1000, inFlight: 5000, kept: 1000},                                   // more in flight than idle
		{idle: minIdleWorkers + 1, inFlight: 0, kept: minIdleWorkers},              // one over
		{idle: minIdleWorkers, inFlight: 2 * minIdleWorkers, kept: minIdleWorkers}, // none over
	} {
		p, all := idlePool(c.idle)
		p.shed(c.inFlight)
		if got := len(p.idleStack); got != c.kept {
			t.Errorf("%d idle, %d in flight: kept %d, want %d", c.idle, c.inFlight, got, c.kept)
		}
		if got := closedWorkers(all); got != c.idle-c.kept {
			t.Errorf("%d idle, %d in flight: %d workers stopped, want %d", c.idle, c.inFlight, got, c.idle-c.kept)
		}
		// The least recently idled are kept: the bottom of the stack.
		for i, w := range p.idleStack {
			if w != all[i] {
				t.Fatalf("%d idle, %d in flight: idle worker %d is not the %dth idled", c.idle, c.inFlight, i, i)
			}
		}
		if p.fewestIdle > len(p.idleStack) {
			t.Errorf("%d idle, %d in flight: fewestIdle %d above the %d idle", c.idle, c.inFlight, p.fewestIdle, len(p.idleStack))
		}
	}
}

func TestWorkerPoolTrimAfterShed(t *testing.T) {
	p, all := idlePool(1000)
	p.shed(100) // 900 stopped
	p.trim()    // the 100 left were idle since the last trim: stopped too
	if len(p.idleStack) != 0 || closedWorkers(all) != 1000 {
		t.Fatalf("after shed and trim: %d idle, %d stopped; want 0 and 1000", len(p.idleStack), closedWorkers(all))
	}
}
