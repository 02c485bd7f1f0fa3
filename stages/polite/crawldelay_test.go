package polite

import (
	"math"
	"testing"
	"time"

	"github.com/temoto/robotstxt"
)

// A Crawl-delay is kept within the stage's pause cap (or a minute when
// pauses are off); negative, unparsable, overflowing and tiny ones set
// no pace.
func TestCrawlDelayBounded(t *testing.T) {
	for _, c := range []struct {
		robots   string
		maxPause time.Duration
		want     time.Duration
	}{
		{"Crawl-delay: 2", time.Minute, 2 * time.Second},
		{"Crawl-delay: 0.5", time.Minute, 500 * time.Millisecond},
		{"Crawl-delay: 3600", time.Minute, time.Minute},
		{"Crawl-delay: 3600", 10 * time.Second, 10 * time.Second},
		{"Crawl-delay: 3600", 0, time.Minute},
		{"Crawl-delay: 1e300", time.Minute, 0}, // overflows time.Duration
		{"Crawl-delay: 1e9", time.Minute, time.Minute},
		{"Crawl-delay: 0", time.Minute, 0},
		{"Crawl-delay: 0.00001", time.Minute, 0},
	} {
		data, err := robotstxt.FromStatusAndBytes(200, []byte("User-agent: *\n"+c.robots+"\nDisallow: /x\n"))
		if err != nil {
			t.Fatalf("%s: %v", c.robots, err)
		}
		got := CrawlDelay(data.FindGroup("fetchstream").CrawlDelay, c.maxPause)
		if got != c.want {
			t.Errorf("%s with pauses up to %s: delay %s, want %s", c.robots, c.maxPause, got, c.want)
		}
	}
	// The parser refuses negative and NaN delays itself; should one come
	// through (or wrap around), it sets no pace.
	for _, d := range []time.Duration{-5 * time.Second, math.MinInt64} {
		if got := CrawlDelay(d, time.Minute); got != 0 {
			t.Errorf("delay %d: %s, want none", d, got)
		}
	}
}
