package httpfetch

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

// MaxRobotsBody is how much of a robots.txt FetchRobots reads: RFC 9309
// asks crawlers to parse at least 500 KiB.
const MaxRobotsBody = 512 << 10

// FetchRobots GETs a robots.txt through the fetcher's own client, so the
// network policy, the User-Agent and the redirect limit apply as to any
// URL, within timeout. It returns the final status and at most
// MaxRobotsBody bytes of the body, or, when no response came, the kind of
// failure (as Classify names it). It makes one attempt: the caller keeps
// the answer, whatever it is, for a while.
func (f *Fetcher) FetchRobots(ctx context.Context, robotsURL string, timeout time.Duration) (status int, body []byte, failure wire.ErrorKind) {
	u, err := ParseTarget(robotsURL)
	if err != nil {
		kind, _ := Classify(err)
		return 0, nil, kind
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s := &spec{url: u, method: http.MethodGet, header: f.header, follow: true}
	resp, err := f.client.Do(s.newRequest(ctx))
	if err != nil {
		kind, _ := Classify(err)
		if kind != wire.ErrBlocked && ctx.Err() == context.DeadlineExceeded {
			kind = wire.ErrTimeout
		}
		return 0, nil, kind
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, MaxRobotsBody))
	if err != nil && resp.StatusCode < http.StatusBadRequest {
		kind, _ := Classify(err)
		return 0, nil, kind
	}
	return resp.StatusCode, body, ""
}
