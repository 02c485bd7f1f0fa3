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
	"strings"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

// hops follows one attempt through its redirects. The client's
// CheckRedirect updates it, on the goroutine that called Do.
type hops struct {
	redirects int    // redirects followed
	last      string // URL of the last request tried, when a redirect or a failure named it ("": none did)
}

type attemptKey struct{}

// checkRedirect is the client's redirect check: a request that does not
// follow redirects gets the 3xx itself; otherwise it refuses more than
// maxRedirects, and a Location that ParseTarget refuses (a redirect to
// file:, gopher: and the like is invalid_url), records the hop in the
// attempt's hops, and gives the hop a credential's headers only if the
// credential allows its host (see spec.credentialOnRedirect). Where the
// hop leads is judged at dial time by the policy.
func checkRedirect(maxRedirects int) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		st, _ := req.Context().Value(attemptKey{}).(*attemptState)
		if st != nil && st.spec != nil && !st.spec.follow {
			return http.ErrUseLastResponse
		}
		if len(via) > maxRedirects {
			return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, maxRedirects)
		}
		if _, err := ParseTarget(req.URL.String()); err != nil {
			return fmt.Errorf("redirect refused: %w", err)
		}
		if st != nil {
			st.hops.redirects, st.hops.last = len(via), req.URL.String()
			if st.span != nil && st.spec != nil {
				redirectEvent(st.span, req, st.spec.redactor, len(via))
			}
			if st.spec != nil {
				st.spec.credentialOnRedirect(req, via[0])
			}
		}
		return nil
	}
}

// try makes attempt n at s within timeout, overwrites *res with its
// result (URL, Method, Attempts and FetchedAt are the caller's) and
// returns the response's Retry-After (negative when none, see retryAfter).
func (f *Fetcher) try(ctx context.Context, s *spec, n int, timeout time.Duration, res *wire.Result) (wait time.Duration) {
	*res = wire.Result{}
	wait = -1
	span := startAttemptSpan(ctx, s, n)
	if span != nil {
		defer endAttemptSpan(span, res) // last: once the result is redacted
	}
	st := f.states.get()
	st.span = span
	answered := false
	defer func() { f.states.put(st, answered) }()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st.hops, st.spec = hops{}, s
	hooks := st.hooks
	if httptrace.ContextClientTrace(ctx) != nil {
		// WithClientTrace would compose the caller's trace into the
		// pooled hooks, which other attempts share: use a fresh set.
		hooks = st.trace.hooks()
	}
	ctx = httptrace.WithClientTrace(context.WithValue(ctx, attemptKey{}, st), hooks)
	defer func() {
		res.Timing, res.Redirects = st.trace.timing(), st.hops.redirects
		res.RemoteAddr = st.trace.remoteAddr()
		// Only a URL other than the first is spelled out; the first's
		// spelling is made only to compare (a failed request's URL error
		// names it without its password).
		if last := st.hops.last; last != "" && (st.hops.redirects > 0 || last != s.url.String()) {
			res.FinalURL = last
		}
		s.redactor.redactResult(res) // the body is redacted as it is read
	}()
	resp, err := f.client.Do(s.newRequest(ctx))
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) && urlErr.URL != "" && !errors.Is(err, ErrTooManyRedirects) && !errors.Is(err, ErrInvalidURL) {
			st.hops.last = urlErr.URL // the hop that failed, e.g. a redirect the policy refused
		}
		f.fail(ctx, res, err, timeout)
		return wait
	}
	answered = true
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	s.cond.record(resp.Header)
	res.ContentType = resp.Header.Get("Content-Type")
	res.Headers = responseHeaders(resp.Header, s)
	f.readBody(ctx, res, resp, timeout, st, s)
	if res.Error == "" && resp.StatusCode >= 400 {
		res.Error = wire.ErrHTTP
		wait = retryAfter(resp, time.Now())
	}
	return wait
}

// readBody decodes the body's content coding (see decodeBody), reads at
// most maxBody decoded bytes (so a gzip bomb stops at the cap), records
// their count and SHA-256, and embeds them as the body mode says. A body
// over the cap goes to the BodyStore when there is one, it is at most
// MaxObject and no credential was sent (see storeBody); otherwise it is
// cut, or fails the result as too_large under RefuseLarge. A body fetched
// with a credential is redacted before it is cut or hashed (see
// readRedacted). A body in a coding the service cannot decode is returned
// as it came, in base64, with ContentEncoding naming the coding; with a
// credential it is not returned at all.
func (f *Fetcher) readBody(ctx context.Context, res *wire.Result, resp *http.Response, timeout time.Duration, st *attemptState, s *spec) {
	src, release, undecodable, err := decodeBody(resp.Body, resp.Header)
	defer release()
	if err != nil {
		f.fail(ctx, res, err, timeout)
		return
	}
	if undecodable != "" && s.cred != nil {
		res.Error, res.Message = wire.ErrUnexpected, fmt.Sprintf("the response's content coding %q is not one the service decodes (%s), "+
			"and a response fetched with a credential is not returned undecoded", cutString(undecodable, 32), wire.AcceptEncoding)
		return
	}
	if s.cred != nil {
		f.readRedacted(ctx, res, src, timeout, st, s)
		return
	}
	body, truncated, err := readCapped(src, f.maxBody, st.buf[:0])
	st.keepBuffer(body)
	if err != nil {
		f.fail(ctx, res, err, timeout)
		return
	}
	// readCapped read one byte past the cap to know the body goes on; it
	// is still there, just past body's end, and belongs to the stored body.
	// A body fetched with a credential is never stored (readRedacted
	// reads it; the check stays so that this holds here too): a stored
	// body is not redacted, as the value may straddle its chunks.
	if truncated && f.objects != nil && s.cred == nil && f.storeBody(ctx, res, resp, src, body[:len(body)+1], timeout) {
		return
	}
	if len(body) > 0 { // an empty body has neither: body_bytes 0 would be left out anyway
		res.BodyBytes, res.BodySHA256 = int64(len(body)), sha256Hex(body)
	}
	res.ContentLength = int64(len(body))
	if truncated {
		res.ContentLength = 0
		if _, decoded := src.(*lazyDecoder); !decoded { // a declared size counts coded bytes
			res.ContentLength = max(resp.ContentLength, 0)
		}
		if f.refuseLarge {
			res.Error, res.Message = Classify(fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, f.maxBody))
			return
		}
	}
	res.BodyTruncated = truncated
	if undecodable != "" {
		res.ContentEncoding = cutString(strings.Join(resp.Header.Values("Content-Encoding"), ", "), 64)
		if f.bodyMode == BodyAuto && len(body) > 0 { // base64, as auto gives any bytes that are not text
			res.Body, res.BodyEncoding = embedBase64(body)
		}
		return
	}
	if f.bodyMode == BodyNone || len(body) == 0 {
		return
	}
	if text, charset, ok := toUTF8(body, res.ContentType); ok {
		body, res.BodyCharset = text, charset
	}
	if truncated {
		body = trimPartialRune(body)
	}
	res.Body, res.BodyEncoding = EmbedBody(body, res.ContentType, f.bodyMode)
}

// sha256Hex is the SHA-256 of body in lower-case hex, with the one
// allocation of the string it returns.
func sha256Hex(body []byte) string {
	sum := sha256.Sum256(body)
	var digits [2 * sha256.Size]byte
	hex.Encode(digits[:], sum[:])
	return string(digits[:])
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

// responseHeaders returns the response headers s asks for, by
// lower-case name, repeated ones joined with ", ", or nil for none.
func responseHeaders(header http.Header, s *spec) map[string]string {
	var out map[string]string
	for _, name := range s.responseHeaders {
		values := header.Values(name)
		if len(values) == 0 {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(s.responseHeaders))
		}
		out[name] = strings.Join(values, ", ") // redacted with the rest of the result: see try
	}
	return out
}
