package engine

import (
	"strconv"
	"time"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/hostsignal"
	"github.com/fetchstream/fetchstream/stages/polite"
)

// hosts is the politeness layer for one replica: it implements
// politeness (see there), the one interface the layers above use. It is
// the one place that asks the gates (polite.Gate) "may this URL go now,
// and if not, when", parks what they hold and wakes it when its time or
// its event comes. A held URL costs nothing per grant: its lane is parked
// on the gate that holds it, until that gate opens (an event) or its
// timer fires. Owned by the dispatcher goroutine.
type hosts struct {
	cfg FetchConfig
	// startRobots fetches a site's robots.txt in the background, or is nil
	// when the fetcher cannot.
	startRobots func(g *gate)

	gates    map[string]*gate
	timers   gateTimers
	opened   []*gate // gates with room again and lanes to wake
	stopping bool    // the stage is canceled: no gate holds a URL any more
	// pausing: a host is paused (or was, until the next sweep), so the
	// batches that only pauses could hold go through gates too (see gated).
	pausing bool
	work    *schedulerWork
	// fleet shares paces, pauses and robots.txt with other replicas; nil:
	// this replica's alone.
	fleet Fleet
}

// newHosts is the politeness of a stage with cfg: startRobots fetches a
// site's robots.txt in the background (nil: the fetcher cannot), and work
// is where it counts its steps (the scheduler's).
func newHosts(cfg FetchConfig, startRobots func(*gate), work *schedulerWork) *hosts {
	return &hosts{cfg: cfg, startRobots: startRobots, gates: map[string]*gate{}, work: work, fleet: cfg.Fleet}
}

// schedulerWork counts the scheduler's steps. Per grant they stay flat
// however many batches are active (TestSchedulerWorkPerGrantIsFlat,
// BenchmarkSchedulerNext): no step scans every batch or window.
type schedulerWork struct {
	looks  uint64 // flows a pick looked at
	parks  uint64 // lanes parked on a gate
	scans  uint64 // URLs scanned into their lanes
	leases uint64 // leases asked of the fleet
}

// gated reports whether job's URLs go through gates: when a per-host
// rule holds them always (a cap, a pace, robots.txt), for the stage or
// for the job, or when a pause could hold them (pauses on, and a host
// paused now or since the last sweep). So with no rule and no host
// paused a batch starts its URLs through its window alone, and the
// first pause attaches the batches in flight from their lowest URL not
// started (see scheduler.slowDown).
func (h *hosts) gated(job *stages.Job) bool {
	c := h.cfg
	ruled := c.PerHost > 0 || c.PerHostRate > 0 || job.PerHostRate > 0 || h.obeysRobots(job)
	return ruled || c.MaxHostPause > 0 && h.pausing
}

func (h *hosts) obeysRobots(job *stages.Job) bool {
	return h.startRobots != nil && (h.cfg.Robots || job.Robots)
}

// join attaches bh's batch, job, from index from on, when gated and not
// attached yet, and reports whether it did.
func (h *hosts) join(bh *batchHosts, job *stages.Job, from int) bool {
	if bh.laneOf != nil || !h.gated(job) {
		return false
	}
	h.attach(bh, job, from)
	return true
}

// holds reports whether bh's URLs go through gates (it has lanes).
func (h *hosts) holds(bh *batchHosts) bool { return bh.laneOf != nil }

// drop empties the lanes of an expired batch (see batchHosts.drop) and
// hands back its retries that waited for their hosts, which it forgets.
func (h *hosts) drop(bh *batchHosts) map[int]pendingRetry {
	bh.drop()
	h.noteDropped(bh)
	retries := bh.retries
	bh.retries = nil
	return retries
}

func hostGateKey(key string) string { return "host " + key }

// attach makes job's URLs go through gates from index from on (0 at
// admission; the lowest not started for a batch attached by a pause,
// which started its URLs in order until then). A URL is put in its lane
// (one per host key and, with robots.txt, per site) when it is scanned
// into the window (see laneFor), not at admission: admitting a batch
// costs the same whatever its size, and a URL's host is parsed once, when
// the window reaches it.
func (h *hosts) attach(bh *batchHosts, job *stages.Job, from int) {
	bh.laneOf = make([]*lane, len(job.Requests))
	bh.scan = from
	bh.lanesByKey = map[string]*lane{}
	bh.obeysRobots = h.obeysRobots(job)
	if r := job.PerHostRate; r > 0 && (h.cfg.PerHostRate <= 0 || r < h.cfg.PerHostRate) {
		bh.flowRate = r // it may lower the stage's rate, never raise it
	}
}

// detach lets go of the gates of a batch that leaves the scheduler.
func (h *hosts) detach(bh *batchHosts) {
	for _, l := range bh.lanes {
		for _, g := range l.gates {
			g.refs--
		}
	}
}

// laneFor returns index i's lane, making the lane and finding its gates
// the first time a URL of its host (and site) is scanned.
func (h *hosts) laneFor(bh *batchHosts, owner laneOwner, job *stages.Job, i int) *lane {
	if l := bh.laneOf[i]; l != nil {
		return l
	}
	var key, origin string
	if t, ok := polite.ParseTarget(job.Requests[i].URL); ok {
		key = t.Key(h.cfg.PerHostKey)
		if bh.obeysRobots {
			origin = t.Origin()
		}
	}
	laneKey := key
	if bh.obeysRobots {
		laneKey += " " + origin
	}
	l := bh.lanesByKey[laneKey]
	if l == nil {
		l = &lane{owner: owner, ready: &bh.ready, heapAt: -1}
		if key != "" { // no host: it fails without a request, so nothing holds it
			l.gates = append(l.gates, h.hostGate(key))
			if bh.obeysRobots {
				l.robots = h.robotsGate(origin)
				l.gates = append(l.gates, l.robots)
			}
			if bh.flowRate > 0 {
				l.gates = append(l.gates, h.flowGate(job.Flow, key, bh.flowRate))
			}
		}
		for _, g := range l.gates {
			g.refs++
		}
		bh.lanesByKey[laneKey] = l
		bh.lanes = append(bh.lanes, l)
	}
	bh.laneOf[i] = l
	return l
}

func (h *hosts) gate(key string, create func(*gate)) *gate {
	g := h.gates[key]
	if g == nil {
		g = &gate{key: key}
		create(g)
		if h.fleet != nil {
			g.UseLeases()
		}
		h.gates[key] = g
	}
	return g
}

// hostGate is the host's cap and pace, and where its pauses go.
func (h *hosts) hostGate(key string) *gate {
	return h.gate(hostGateKey(key), func(g *gate) {
		g.Gate = polite.NewHostGate(time.Now(), h.cfg.PerHost, h.cfg.PerHostRate, h.cfg.PerHostBurst, h.cfg.PerHostJitter)
		if h.fleet != nil {
			g.UsePermits()
		}
	})
}

// robotsGate holds a site's URLs until its robots.txt is in, then paces
// them by its Crawl-delay.
func (h *hosts) robotsGate(origin string) *gate {
	return h.gate("robots "+origin, func(g *gate) { g.Gate = polite.NewRobotsGate(origin) })
}

// flowGate is a flow's own, lower pace for one host.
func (h *hosts) flowGate(flow, key string, r float64) *gate {
	return h.gate("flow "+strconv.Quote(flow)+" "+key, func(g *gate) { g.Gate = polite.NewPaceGate(time.Now(), r) })
}

// nextInLane returns, for a batch with lanes, the lane whose head may
// start now and that head's index, or nil and -1; end is where the
// batch's window ends. It takes the lowest index whose gates pass: lanes
// whose gate holds them are parked on it as it meets them, and indices
// newly in the window are put in their lanes; each index is put in a lane
// once and each park is undone only by its gate's wake, so a held host
// costs nothing per grant.
func (h *hosts) nextInLane(bh *batchHosts, owner laneOwner, job *stages.Job, end int, now time.Time) (*lane, int) {
	for {
		if len(bh.ready) > 0 {
			l := bh.ready[0]
			if l.robots != nil && !h.stopping {
				h.refreshRobots(l.robots, now)
			}
			g, until := l.blocking(now)
			if g == nil || h.stopping {
				return l, l.front().index
			}
			bh.ready.popTop()
			h.park(l, g, until, now)
			continue
		}
		if bh.scan >= end {
			return nil, -1
		}
		i := bh.scan
		bh.scan++
		h.work.scans++
		l := h.laneFor(bh, owner, job, i)
		l.push(i, now)
		h.noteDemand(l.host())
		if l.parkedOn == nil {
			bh.ready.push(l) // a no-op when it is in the heap already, with a lower head
		}
	}
}

// take lets the head of l, index i, go through its gates at now: the time
// it waited for them, the retry it resumes if it is one handed back, and
// refused when robots.txt disallows it (then it takes nothing: it ends
// without a request).
func (h *hosts) take(bh *batchHosts, l *lane, job *stages.Job, i int, now time.Time) (
	hostWait time.Duration, resume *hostsignal.Resume, refused bool) {
	hostWait = l.pop(now)
	bh.ready.fixTop()
	if len(bh.retries) > 0 {
		var waited time.Duration
		resume, waited = bh.resumed(i)
		hostWait += waited
	}
	if l.robots != nil && !h.stopping && !l.robots.Robots().Allows(job.Requests[i].URL, robotsAgent(job, h.cfg.RobotsUserAgent)) {
		h.noteDemand(l.host())
		return hostWait, resume, true
	}
	for _, g := range l.gates {
		g.Take(now)
	}
	h.noteDemand(l.host())
	return hostWait, resume, false
}

// finished releases index's gates once its request is over, and gives a
// slowed host back some of its pace when it succeeded (ok). A request
// that started before its batch was attached passed no gate.
func (h *hosts) finished(bh *batchHosts, index int, ok bool, now time.Time) {
	if bh.laneOf == nil || bh.laneOf[index] == nil {
		return
	}
	l := bh.laneOf[index]
	for _, g := range l.gates {
		if g.Release() {
			h.open(g)
		}
	}
	h.noteDemand(l.host())
	if len(l.gates) > 0 && ok {
		l.gates[0].Succeeded(now)
	}
}

// requeue puts index i back, whose retry must wait for its host: it
// waits at its place in its lane (parked with it when the lane is), and
// resumes when its gates let it go. A batch not attached yet is attached
// from index from on (its lowest not started): a retry waits for its
// host's gate, so its batch goes through gates from now.
func (h *hosts) requeue(bh *batchHosts, owner laneOwner, job *stages.Job, i int, p pendingRetry, from int, now time.Time) {
	if bh.laneOf == nil {
		h.attach(bh, job, from)
	}
	if bh.retries == nil {
		bh.retries = map[int]pendingRetry{}
	}
	bh.retries[i] = p
	l := h.laneFor(bh, owner, job, i) // its own when it started before its batch was attached
	l.insert(i, now)
	h.noteDemand(l.host())
	if l.parkedOn == nil {
		bh.ready.pushOrFix(l)
	}
}

// park makes l wait on g, until the time given (zero: until an event).
// A fleet-paced gate out of slots asks for a lease.
func (h *hosts) park(l *lane, g *gate, until, now time.Time) {
	l.parkedOn = g
	l.parks++
	h.work.parks++
	g.waiters, g.whead = compact(g.waiters, g.whead)
	g.waiters = append(g.waiters, l)
	h.timers.arm(g, until)
	if until.IsZero() {
		h.askLease(g, now)
	}
}

// open marks g as passable again, so that the next grant wakes its
// waiting lanes as far as it has room.
func (h *hosts) open(g *gate) {
	if !g.opened && len(g.waiting()) > 0 {
		g.opened = true
		h.opened = append(h.opened, g)
	}
}

// admitOpened wakes, for each opened gate, as many lanes as it has room
// for (see gate.wakeN: reserveBinds says whether the reserve binds). A
// gate stays opened while it has room and waiting lanes: when the lanes
// woken did not take the room (their batch is at its own cap, or another
// gate holds them), the next call wakes more. It reports whether it woke
// any lane.
func (h *hosts) admitOpened(now time.Time, reserveBinds bool) bool {
	woke := false
	kept := h.opened[:0]
	for _, g := range h.opened {
		until, blocked := g.Wait(now)
		if blocked || len(g.waiting()) == 0 {
			g.opened = false
			if blocked && len(g.waiting()) > 0 {
				h.timers.arm(g, until) // zero until: the event that holds it opens it again
				if until.IsZero() {
					h.askLease(g, now)
				}
			}
			continue
		}
		g.wakeN(g.Room(now), reserveBinds)
		woke = true
		kept = append(kept, g)
	}
	clear(h.opened[len(kept):])
	h.opened = kept
	return woke
}

// wakeDue opens the gates whose time has come.
func (h *hosts) wakeDue(now time.Time) { h.timers.due(now, h.open) }

// nextWake is the time of the earliest gate timer (zero: none).
func (h *hosts) nextWake() time.Time { return h.timers.next() }

// refreshRobots starts a fetch of g's robots.txt when it has none, or
// only a stale one, and none is under way.
func (h *hosts) refreshRobots(g *gate, now time.Time) {
	if e := g.Robots(); !e.Fetching && !e.Fresh(now) {
		e.Fetching = true
		h.startRobots(g)
	}
}

// robotsFetched files a robots.txt on its gate (see
// polite.Gate.RobotsFetched); then the site's URLs go on.
func (h *hosts) robotsFetched(r robotsResult, now time.Time) {
	r.gate.RobotsFetched(r.RobotsFetch, h.cfg.RobotsTTL, h.cfg.RobotsUserAgent, h.cfg.MaxHostPause, now)
	r.gate.wake()
}

// stop lets every held URL go, for a canceled stage (see
// scheduler.stop): no gate holds a URL any more.
func (h *hosts) stop() {
	h.stopping = true
	for _, g := range h.gates {
		g.wake()
	}
}

// stopped reports whether stop was called.
func (h *hosts) stopped() bool { return h.stopping }

// sweep forgets the gates that hold nothing (see gate.idle), and turns
// pausing off once no host is paused: batches admitted from then on go
// ungated again when only a pause could hold them (see gated).
func (h *hosts) sweep(now time.Time) {
	paused := false
	for key, g := range h.gates {
		if g.idle(now) && g.timerAt.IsZero() {
			h.noteForgotten(g) // nothing in flight or queued: its permits go back
			delete(h.gates, key)
			continue
		}
		paused = paused || g.PausedAt(now)
	}
	h.pausing = paused
}
