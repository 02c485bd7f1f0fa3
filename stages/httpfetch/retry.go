package httpfetch

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fetchstream/fetchstream/stages/backoff"
	"github.com/fetchstream/fetchstream/stages/hostsignal"
	"github.com/fetchstream/fetchstream/wire"
)

// MaxRetries bounds Config.Retries.
const MaxRetries = 10

// retryPolicy decides whether a failed attempt is tried again and after
// how long. What is retried is a failure that may pass (see
// spec.retryable): a timeout, a connection error, and the statuses 429,
// 502, 503 and 504, or those a batch's retry_on names; and only for a
// request that is safe to repeat: GET, HEAD, PUT, DELETE and OPTIONS are
// idempotent, POST and PATCH are retried only with an Idempotency-Key
// header or the batch's retry_unsafe.
//
// Budget: each attempt is bounded by the request's timeout, and all
// attempts of a URL and the waits between them share a budget of
// timeout × (retries+1), counted from the first attempt. The wait before
// a retry is the server's Retry-After on 429 and 503 (seconds or an
// HTTP-date), else exponential backoff with full jitter: uniform in
// [0, min(max, base·2^(n-1))) before retry n. A retry is made only when,
// after its wait, at least half a timeout of the budget is left; so a
// Retry-After reaching past the budget ends the retries at once, and the
// result is the 429 or 503 as answered, never a wait with no time to try.
type retryPolicy struct {
	retries   int
	base, max time.Duration
}

// budget is the wall time all attempts of one URL share.
func (p retryPolicy) budget(timeout time.Duration) time.Duration {
	return timeout * time.Duration(p.retries+1)
}

// next says whether to retry after attempt n (from 1) ended with a
// failure that retryable says may pass, with left of the budget
// remaining, and how long to wait first. retryAfter is the attempt's
// Retry-After, or negative when it had none.
func (p retryPolicy) next(n int, retryable bool, retryAfter, left, timeout time.Duration) (time.Duration, bool) {
	if n > p.retries || !retryable {
		return 0, false
	}
	wait := p.backoff(n)
	if retryAfter >= 0 {
		wait = retryAfter
	}
	if left-wait < timeout/2 {
		return 0, false
	}
	return wait, true
}

// backoff is the full-jitter wait before retry n (from 1).
func (p retryPolicy) backoff(n int) time.Duration {
	return backoff.Exponential{Base: p.base, Max: p.max, Jitter: backoff.Full}.Delay(n)
}

// retryAfter reads the Retry-After of a 429 or 503 response: a number of
// seconds or an HTTP-date (a date in the past is no wait). It returns -1
// for other statuses and for a missing or unreadable header.
func retryAfter(resp *http.Response, now time.Time) time.Duration {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return -1
	}
	return parseRetryAfter(resp.Header.Get("Retry-After"), now)
}

// maxRetryAfter keeps huge Retry-After values from overflowing; any wait
// this long is past every budget anyway.
const maxRetryAfter = 365 * 24 * time.Hour

func parseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return -1
	}
	if secs, err := strconv.ParseUint(value, 10, 64); err == nil {
		if secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(secs) * time.Second
	} else if value[0] >= '0' && value[0] <= '9' && strings.Trim(value, "0123456789") == "" {
		return maxRetryAfter // all digits, too many for a uint64
	}
	when, err := http.ParseTime(value)
	if err != nil {
		return -1
	}
	return min(max(when.Sub(now), 0), maxRetryAfter)
}

// deferSlack is how much sooner than the retry's time a host's pause may
// end and still take a deferred retry.
const deferSlack = 100 * time.Millisecond

// stoppedWaiting turns *last, the result of attempt n of a URL whose
// retry was waiting when the service stopped, into its canceled result.
//
// It and offer take the result by pointer and are kept out of line, so
// that do's frame holds no copy of a wire.Result for them: a worker's
// stack grows to the deepest request it made and keeps that size.
//
//go:noinline
func stoppedWaiting(last *wire.Result, n int) {
	kind := string(last.Error)
	if last.Error == wire.ErrHTTP {
		kind = fmt.Sprintf("status %d", last.Status)
	}
	last.Error, last.Message = wire.ErrCanceled,
		fmt.Sprintf("the service stopped while waiting to retry (attempt %d ended as %s)", n, kind)
}

// offer hands the retry of attempt n, due after wait, to d: whether d
// took it, so that a later Do with its Resume goes on from there.
//
//go:noinline
func offer(d hostsignal.Deferrer, rawURL string, wait time.Duration, n int, start time.Time, last *wire.Result) bool {
	return d.Defer(rawURL, wait, hostsignal.Resume{Attempts: n, Start: start, Last: *last})
}
