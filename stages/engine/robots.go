package engine

import (
	"context"
	"time"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/engine/polite"

	"github.com/fetchstream/fetchstream/wire"
)

// RobotsFetcher is a URLFetcher that can also fetch a site's robots.txt,
// through the same client (so the same network policy and User-Agent):
// *httpfetch.Fetcher is one. FetchRobots returns the final status and at
// most the first 512 KiB of the body, or, when no response came, the
// kind of failure.
type RobotsFetcher interface {
	FetchRobots(ctx context.Context, robotsURL string, timeout time.Duration) (status int, body []byte, failure wire.ErrorKind)
}

// robotsTimeout bounds a robots.txt fetch.
const robotsTimeout = 10 * time.Second

// robotsAgent is the User-Agent whose robots.txt rules apply to job's
// URLs: the job's own, when it names one, else the stage's.
func (s *scheduler) robotsAgent(job *stages.Job) string {
	return robotsAgent(job, s.cfg.RobotsUserAgent)
}

func robotsAgent(job *stages.Job, stage string) string {
	if job.Options != nil && job.Options.UserAgent != "" {
		return job.Options.UserAgent
	}
	return stage
}

// refreshRobots starts a fetch of g's robots.txt when it has none, or
// only a stale one, and none is under way.
func (s *scheduler) refreshRobots(g *gate, now time.Time) {
	if e := g.Robots(); !e.Fetching && !e.Fresh(now) {
		e.Fetching = true
		s.startRobots(g)
	}
}

// robotsResult is a fetched robots.txt on its way to the dispatcher.
type robotsResult struct {
	gate *gate
	polite.RobotsFetch
}

// robotsFetched files a robots.txt on its gate (see
// polite.Gate.RobotsFetched); then the site's URLs go on.
func (s *scheduler) robotsFetched(r robotsResult, now time.Time) {
	r.gate.RobotsFetched(r.RobotsFetch, s.cfg.RobotsTTL, s.cfg.RobotsUserAgent, s.cfg.MaxHostPause, now)
	r.gate.wake()
}

// fetchRobots fetches g's robots.txt in a goroutine of its own, beside the
// workers: at most Concurrency at once, and it takes no worker slot. The
// result goes to the dispatcher, which counts the fetches under way and
// so is there to take it.
func (f *Fetch) fetchRobots(g *gate) {
	f.robotsPending++
	origin := g.Robots().Origin
	go func() {
		res := robotsResult{gate: g, RobotsFetch: polite.RobotsFetch{Failure: wire.ErrCanceled}}
		select {
		case f.robotsSem <- struct{}{}:
			func() {
				// A panic in the fetch reads as no response; told to no one,
				// as it is the site's rules, not a URL's result, that it spoils.
				defer stages.Recover(nil, func(any) stages.Panic {
					res.Failure = wire.ErrUnexpected
					return stages.Panic{}
				})
				res.Status, res.Body, res.Failure = f.robots.FetchRobots(f.ctx, origin+"/robots.txt", robotsTimeout)
			}()
			<-f.robotsSem
		case <-f.ctx.Done():
		}
		f.robotsDone <- res
	}()
}
