package engine

import (
	"time"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/hostsignal"
)

// politeness is the boundary between layer 3 and the layers above it:
// all that the scheduler, the filer and the dispatcher ask of politeness,
// which is at heart one question, "may this URL go now, and if not,
// when" (nextInLane, and nextWake for the when). hosts implements it,
// for one replica or, with a Fleet, for the replicas of a fleet: then its
// gates' paces and pauses come from the fleet (see fleet.go), and the
// parking and waking stay the same.
// Nothing of fair share or the window crosses it but a job, indices,
// times, the batch's own politeness state (bh, which the batch carries
// and only politeness reads) and laneOwner; what goes back is indices,
// waits and an opaque lane to take. Owned by the dispatcher goroutine.
type politeness interface {
	// Per batch. join makes bh's URLs go through gates, from index from
	// on, when a rule could hold them and they do not yet; it reports
	// whether it did. holds reports whether they do. detach lets go of a
	// batch that left the scheduler; drop empties an expired one's lanes
	// and hands back its retries that waited for their hosts.
	join(bh *batchHosts, job *stages.Job, from int) bool
	holds(bh *batchHosts) bool
	detach(bh *batchHosts)
	drop(bh *batchHosts) map[int]pendingRetry

	// Per URL. nextInLane: the lowest index below end that may go now,
	// and its lane, or nil and -1; take lets it go (its wait, the retry
	// it resumes, or refused by robots.txt); finished: its request is
	// over; requeue: its retry waits for its host.
	nextInLane(bh *batchHosts, owner laneOwner, job *stages.Job, end int, now time.Time) (*lane, int)
	take(bh *batchHosts, l *lane, job *stages.Job, i int, now time.Time) (hostWait time.Duration, resume *hostsignal.Resume, refused bool)
	finished(bh *batchHosts, index int, ok bool, now time.Time)
	requeue(bh *batchHosts, owner laneOwner, job *stages.Job, i int, p pendingRetry, from int, now time.Time)

	// Per host, and time. slowDown: what a host said (true: pausing
	// began); fleetEvent: a lease or a pause from the fleet; admitOpened wakes lanes on gates with room again; wakeDue
	// opens the gates whose time came; nextWake is the earliest (zero:
	// none); robotsFetched files a site's robots.txt; sweep forgets idle
	// gates; stop lets everything go (stopped says it did); stats is what
	// waits now.
	slowDown(sig hostSignal) (startedPausing bool)
	fleetEvent(e FleetEvent, now time.Time) (startedPausing bool)
	admitOpened(now time.Time, reserveBinds bool) bool
	wakeDue(now time.Time)
	nextWake() time.Time
	robotsFetched(r robotsResult, now time.Time)
	sweep(now time.Time)
	stop()
	stopped() bool
	stats(now time.Time) HostStats
}

var _ politeness = (*hosts)(nil)
