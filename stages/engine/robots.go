package engine

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/engine/polite"

	"github.com/temoto/robotstxt"

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

// How robots.txt is fetched and kept. A robots.txt that could not be read
// (a 5xx, a 429, no response) disallows the whole site for robotsRetry at
// most (RFC 9309 §2.3.1.4); Crawl-delay is bounded by polite.CrawlDelay.
const (
	robotsTimeout = 10 * time.Second
	robotsRetry   = time.Minute
)

// robotsEntry is a site's robots.txt as its gate keeps it. While a
// newer copy is being fetched the older one still answers.
type robotsEntry struct {
	origin   string // scheme://host:port
	data     *robotstxt.RobotsData
	expires  time.Time
	fetching bool
}

// known reports whether the site's rules are in, so its URLs may pass.
func (e *robotsEntry) known() bool { return e.data != nil }

// fresh reports whether the rules need no new fetch at now.
func (e *robotsEntry) fresh(now time.Time) bool { return e.data != nil && now.Before(e.expires) }

// allows reports whether the rules let agent fetch rawURL: its path and
// query, as RFC 9309 matches them.
func (e *robotsEntry) allows(rawURL, agent string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return true // it fails as invalid_url, without a request
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	return e.data.TestAgent(path, agent)
}

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
	if e := g.robots; !e.fetching && !e.fresh(now) {
		e.fetching = true
		s.startRobots(g)
	}
}

// robotsResult is a fetched robots.txt on its way to the dispatcher.
type robotsResult struct {
	gate    *gate
	status  int
	body    []byte
	failure wire.ErrorKind
}

// robotsFetched files a robots.txt: its rules, how long they are kept,
// the site's Crawl-delay as the gate's pace; then the site's URLs go on.
func (s *scheduler) robotsFetched(r robotsResult, now time.Time) {
	g, e := r.gate, r.gate.robots
	e.fetching = false
	data, ttl := robotsRules(r, s.cfg.RobotsTTL)
	e.data, e.expires = data, now.Add(ttl)
	pace := 0.0
	if d := polite.CrawlDelay(data.FindGroup(s.cfg.RobotsUserAgent).CrawlDelay, s.cfg.MaxHostPause); d > 0 {
		pace = float64(time.Second) / float64(d)
	}
	g.setPace(now, pace, 1, 0)
	g.wake()
}

var (
	allowAll, _    = robotstxt.FromStatusAndBytes(http.StatusNotFound, nil)
	disallowAll, _ = robotstxt.FromStatusAndBytes(http.StatusInternalServerError, nil)
)

// robotsRules reads a robots.txt fetch as RFC 9309 says: 2xx, its rules
// (a file that does not parse allows all); 4xx but 429, allow all; a 5xx,
// a 429 or no response, disallow all, for a while. A robots.txt that the
// network policy refused, or an invalid one, allows all: the site's URLs
// then fail on their own, as blocked or invalid_url, and a canceled fetch
// does not matter (the stage is stopping).
func robotsRules(r robotsResult, ttl time.Duration) (*robotstxt.RobotsData, time.Duration) {
	retry := min(ttl, robotsRetry)
	switch {
	case r.failure == wire.ErrBlocked, r.failure == wire.ErrInvalidURL, r.failure == wire.ErrCanceled:
		return allowAll, ttl
	case r.failure != "", r.status == http.StatusTooManyRequests:
		return disallowAll, retry
	}
	data, err := robotstxt.FromStatusAndBytes(r.status, r.body)
	switch {
	case err != nil && r.status >= 200 && r.status < 300:
		return allowAll, ttl
	case err != nil:
		return disallowAll, retry // a status robots.txt should not end with (1xx, 3xx)
	case r.status >= 500:
		return data, retry
	}
	return data, ttl
}

// fetchRobots fetches g's robots.txt in a goroutine of its own, beside the
// workers: at most Concurrency at once, and it takes no worker slot. The
// result goes to the dispatcher, which counts the fetches under way and
// so is there to take it.
func (f *Fetch) fetchRobots(g *gate) {
	f.robotsPending++
	origin := g.robots.origin
	go func() {
		res := robotsResult{gate: g, failure: wire.ErrCanceled}
		select {
		case f.robotsSem <- struct{}{}:
			func() {
				// A panic in the fetch reads as no response; told to no one,
				// as it is the site's rules, not a URL's result, that it spoils.
				defer stages.Recover(nil, func(any) stages.Panic {
					res.failure = wire.ErrUnexpected
					return stages.Panic{}
				})
				res.status, res.body, res.failure = f.robots.FetchRobots(f.ctx, origin+"/robots.txt", robotsTimeout)
			}()
			<-f.robotsSem
		case <-f.ctx.Done():
		}
		f.robotsDone <- res
	}()
}
