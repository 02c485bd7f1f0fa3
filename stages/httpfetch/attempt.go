package httpfetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

// hops follows one attempt through its redirects. The client's
// CheckRedirect updates it, on the goroutine that called Do.
type hops struct {
	redirects int    // redirects followed
	last      string // URL of the last request tried
}

type attemptKey struct{}

// checkRedirect is the client's redirect check: it refuses more than
// maxRedirects, and a Location that ParseTarget refuses (a redirect to
// file:, gopher: and the like is invalid_url), and records the hop in the
// attempt's hops. Where the hop leads is judged at dial time by the policy.
func checkRedirect(maxRedirects int) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, maxRedirects)
		}
		if _, err := ParseTarget(req.URL.String()); err != nil {
			return fmt.Errorf("redirect refused: %w", err)
		}
		if st, ok := req.Context().Value(attemptKey{}).(*attemptState); ok {
			st.hops.redirects, st.hops.last = len(via), req.URL.String()
		}
		return nil
	}
}

// try makes one attempt at u within timeout and returns its result (URL,
// Attempts and FetchedAt are the caller's) and the response's Retry-After
// (negative when none, see retryAfter).
func (f *Fetcher) try(ctx context.Context, u *url.URL, timeout time.Duration) (res wire.Result, wait time.Duration) {
	wait = -1
	st := f.states.get()
	answered := false
	defer func() { f.states.put(st, answered) }()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := u.String()
	st.hops = hops{last: target}
	hooks := st.hooks
	if httptrace.ContextClientTrace(ctx) != nil {
		// WithClientTrace would compose the caller's trace into the
		// pooled hooks, which other attempts share: use a fresh set.
		hooks = st.trace.hooks()
	}
	ctx = httptrace.WithClientTrace(context.WithValue(ctx, attemptKey{}, st), hooks)
	defer func() {
		res.Timing, res.Redirects = st.trace.timing(), st.hops.redirects
		if st.hops.redirects > 0 || st.hops.last != target {
			res.FinalURL = st.hops.last
		}
	}()
	resp, err := f.client.Do(f.newGet(ctx, u))
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) && urlErr.URL != "" && !errors.Is(err, ErrTooManyRedirects) && !errors.Is(err, ErrInvalidURL) {
			st.hops.last = urlErr.URL // the hop that failed, e.g. a redirect the policy refused
		}
		f.fail(ctx, &res, err, timeout)
		return res, wait
	}
	answered = true
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	res.ContentType = resp.Header.Get("Content-Type")
	f.readBody(ctx, &res, resp, timeout, st)
	if res.Error == "" && resp.StatusCode >= 400 {
		res.Error = wire.ErrHTTP
		wait = retryAfter(resp, time.Now())
	}
	return res, wait
}

// readBody reads at most maxBody decoded bytes (so a gzip bomb stops at
// the cap), records their count and SHA-256, and embeds them as the body
// mode says. A body over the cap goes to the BodyStore when there is one
// and it is at most MaxObject (see storeBody); otherwise it is cut, or
// fails the result as too_large under RefuseLarge.
func (f *Fetcher) readBody(ctx context.Context, res *wire.Result, resp *http.Response, timeout time.Duration, st *attemptState) {
	body, truncated, err := readCapped(resp.Body, f.maxBody, st.buf[:0])
	st.keepBuffer(body)
	if err != nil {
		f.fail(ctx, res, err, timeout)
		return
	}
	// readCapped read one byte past the cap to know the body goes on; it
	// is still there, just past body's end, and belongs to the stored body.
	if truncated && f.objects != nil && f.storeBody(ctx, res, resp, body[:len(body)+1], timeout) {
		return
	}
	if len(body) > 0 { // an empty body has neither: body_bytes 0 would be left out anyway
		sum := sha256.Sum256(body)
		res.BodyBytes, res.BodySHA256 = int64(len(body)), hex.EncodeToString(sum[:])
	}
	res.ContentLength = int64(len(body))
	if truncated {
		res.ContentLength = max(resp.ContentLength, 0) // declared size, when the server gave one
		if f.refuseLarge {
			res.Error, res.Message = Classify(fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, f.maxBody))
			return
		}
		body = trimPartialRune(body)
	}
	res.Body, res.BodyEncoding = EmbedBody(body, res.ContentType, f.bodyMode)
	res.BodyTruncated = truncated
}

// fail classifies err, telling this attempt's timeout from a shutdown.
func (f *Fetcher) fail(ctx context.Context, res *wire.Result, err error, timeout time.Duration) {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err // without the URL, which the result already holds
	}
	res.Error, res.Message = Classify(err)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && res.Error != wire.ErrBlocked:
		res.Error, res.Message = wire.ErrTimeout, fmt.Sprintf("no complete response within %s", timeout.Round(time.Millisecond))
	case res.Error == wire.ErrCanceled:
		res.Message = "the service stopped before the fetch could finish"
	}
}

// newGet is http.NewRequestWithContext for a GET of an already parsed URL,
// without parsing it again. Requests share one read-only Header: neither
// the client nor the transport changes a request's headers (redirects and
// credentials from the URL get a copy).
func (f *Fetcher) newGet(ctx context.Context, u *url.URL) *http.Request {
	req := http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     f.header,
		Host:       u.Host,
	}
	return req.WithContext(ctx)
}
