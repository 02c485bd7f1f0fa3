package polite

import "time"

// maxCrawlDelayNoPauses bounds a site's Crawl-delay when the stage takes
// no pauses (MaxHostPause 0).
const maxCrawlDelayNoPauses = time.Minute

// minCrawlDelay is the shortest Crawl-delay that paces at all: a pace
// above wire.MaxPerHostRate is no pace.
const minCrawlDelay = 100 * time.Microsecond

// CrawlDelay is the pause a site's robots.txt Crawl-delay d sets between
// its requests: d itself, at most maxPause (what a Retry-After may hold a
// host for), or maxCrawlDelayNoPauses when pauses are off, so a site
// cannot hold its URLs longer than the service would let it otherwise.
// A delay that is not positive, or that overflowed in parsing (a huge
// value comes back negative), or too short to pace, is none: 0.
func CrawlDelay(d, maxPause time.Duration) time.Duration {
	limit := maxPause
	if limit <= 0 {
		limit = maxCrawlDelayNoPauses
	}
	if d < minCrawlDelay {
		return 0
	}
	return min(d, limit)
}
