package polite

import (
	"net/http"
	"net/url"
	"time"

	"github.com/temoto/robotstxt"

	"github.com/fetchstream/fetchstream/wire"
)

// robotsRetry bounds how long a robots.txt that could not be read (a 5xx,
// a 429, no response) disallows the whole site (RFC 9309 §2.3.1.4).
const robotsRetry = time.Minute

// Robots is a site's robots.txt as its gate keeps it. While a newer copy
// is being fetched (Fetching, which the engine sets as it starts one) the
// older one still answers.
type Robots struct {
	Origin   string // scheme://host:port
	Fetching bool
	data     *robotstxt.RobotsData
	expires  time.Time
}

// Known reports whether the site's rules are in, so its URLs may pass.
func (e *Robots) Known() bool { return e.data != nil }

// Fresh reports whether the rules need no new fetch at now.
func (e *Robots) Fresh(now time.Time) bool { return e.data != nil && now.Before(e.expires) }

// Allows reports whether the rules let agent fetch rawURL: its path and
// query, as RFC 9309 matches them.
func (e *Robots) Allows(rawURL, agent string) bool {
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

// RobotsFetch is a fetched robots.txt: its final status and body, or,
// when no response came, the kind of failure.
// Age is how old it already was when it came (a copy another replica
// fetched): it is kept that much less.
type RobotsFetch struct {
	Status  int
	Body    []byte
	Failure wire.ErrorKind
	Age     time.Duration
}

// RobotsKeep is how long a robots.txt fetch is kept when the TTL is ttl:
// ttl, or less when it could not be read (see RobotsFetched).
func RobotsKeep(r RobotsFetch, ttl time.Duration) time.Duration {
	_, keep := robotsRules(r, ttl)
	return keep
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
func robotsRules(r RobotsFetch, ttl time.Duration) (*robotstxt.RobotsData, time.Duration) {
	retry := min(ttl, robotsRetry)
	switch {
	case r.Failure == wire.ErrBlocked, r.Failure == wire.ErrInvalidURL, r.Failure == wire.ErrCanceled:
		return allowAll, ttl
	case r.Failure != "", r.Status == http.StatusTooManyRequests:
		return disallowAll, retry
	}
	data, err := robotstxt.FromStatusAndBytes(r.Status, r.Body)
	switch {
	case err != nil && r.Status >= 200 && r.Status < 300:
		return allowAll, ttl
	case err != nil:
		return disallowAll, retry // a status robots.txt should not end with (1xx, 3xx)
	case r.Status >= 500:
		return data, retry
	}
	return data, ttl
}
