package stages

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

// FetcherConfig sets up the HTTP client behind the fetch stage.
type FetcherConfig struct {
	// Concurrency sizes the keep-alive pool; it should match the fetch
	// stage's global cap so that every request in flight can reuse a
	// connection.
	Concurrency int
	// MaxBody caps the body bytes read per response (decoded bytes, so a
	// gzip bomb stops at the cap). Over the cap the body is cut and the
	// result says body_truncated, or, with RefuseLarge, fails as too_large.
	MaxBody     int64
	RefuseLarge bool
	// MaxRedirects is how many redirects a request may follow.
	MaxRedirects int
	// Policy says where the client may connect.
	Policy Policy
	// UserAgent is sent with every request.
	UserAgent string
	// TLSConfig, when set, is used for https (tests pass their CA here).
	TLSConfig *tls.Config
}

// MaxURLLength bounds a URL; longer ones are invalid_url without a request.
const MaxURLLength = 8 << 10

// Fetcher fetches one URL into a wire.Result. It is safe for concurrent use.
type Fetcher struct {
	client      *http.Client
	maxBody     int64
	refuseLarge bool
	userAgent   string
}

// NewFetcher validates cfg and builds the HTTP client: a keep-alive pool
// sized to the concurrency, no proxy (an environment proxy would dial on
// the fetcher's behalf and bypass the policy), the policy checked on every
// dial, and the redirect limit.
func NewFetcher(cfg FetcherConfig) (*Fetcher, error) {
	switch {
	case cfg.Concurrency < 1:
		return nil, fmt.Errorf("%w: concurrency must be at least 1, got %d", ErrConfig, cfg.Concurrency)
	case cfg.MaxBody < 0:
		return nil, fmt.Errorf("%w: max body must not be negative, got %d", ErrConfig, cfg.MaxBody)
	case cfg.MaxRedirects < 0:
		return nil, fmt.Errorf("%w: max redirects must not be negative, got %d", ErrConfig, cfg.MaxRedirects)
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: cfg.Policy.Control()}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           cfg.Concurrency,
		MaxIdleConnsPerHost:    cfg.Concurrency,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig:        cfg.TLSConfig,
	}
	maxRedirects := cfg.MaxRedirects
	client := &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, maxRedirects)
			}
			return nil
		},
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = "fetchstream"
	}
	return &Fetcher{client: client, maxBody: cfg.MaxBody, refuseLarge: cfg.RefuseLarge, userAgent: ua}, nil
}

// Close releases idle connections.
func (f *Fetcher) Close() { f.client.CloseIdleConnections() }

// Fetch GETs rawURL with timeout covering connect, headers and body, and
// returns its result with URL, Status, Error, body fields and ElapsedMS
// set (the caller sets BatchID, Index and Count). It never panics and
// never returns an error: every failure is a Result.Error kind. When ctx
// is canceled the result is canceled; when timeout passes, timeout.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string, timeout time.Duration) wire.Result {
	start := time.Now()
	res := wire.Result{URL: rawURL}
	f.fetch(ctx, rawURL, timeout, &res)
	res.ElapsedMS = float64(time.Since(start).Microseconds()) / 1000
	return res
}

func (f *Fetcher) fetch(ctx context.Context, rawURL string, timeout time.Duration, res *wire.Result) {
	u, err := ParseTarget(rawURL)
	if err != nil {
		res.Error, res.Message = Classify(err)
		return
	}
	if err := ctx.Err(); err != nil {
		res.Error, res.Message = wire.ErrCanceled, "the service stopped before the fetch started"
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		res.Error, res.Message = Classify(fmt.Errorf("%w: %v", ErrInvalidURL, err))
		return
	}
	req.Header.Set("User-Agent", f.userAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		f.fail(ctx, res, err, timeout)
		return
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	res.ContentType = resp.Header.Get("Content-Type")
	body, truncated, err := readCapped(resp.Body, f.maxBody)
	if err != nil {
		f.fail(ctx, res, err, timeout)
		return
	}
	res.ContentLength = int64(len(body))
	if truncated {
		res.ContentLength = max(resp.ContentLength, 0) // declared size, when the server gave one
	}
	if truncated && f.refuseLarge {
		res.Error, res.Message = Classify(fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, f.maxBody))
		return
	}
	res.Body, res.BodyEncoding = EmbedBody(body, res.ContentType)
	res.BodyTruncated = truncated
	if resp.StatusCode >= 400 {
		res.Error = wire.ErrHTTP
	}
}

// fail classifies err, telling a timeout of this request from a shutdown.
func (f *Fetcher) fail(ctx context.Context, res *wire.Result, err error, timeout time.Duration) {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	res.Error, res.Message = Classify(err)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && res.Error != wire.ErrBlocked:
		res.Error, res.Message = wire.ErrTimeout, fmt.Sprintf("no complete response within %s", timeout)
	case res.Error == wire.ErrCanceled:
		res.Message = "the service stopped before the fetch could finish"
	}
}

// ParseTarget accepts only absolute http and https URLs with a host, of at
// most MaxURLLength bytes; anything else is an error wrapping ErrInvalidURL.
func ParseTarget(rawURL string) (*url.URL, error) {
	if len(rawURL) > MaxURLLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidURL, MaxURLLength)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme must be http or https, got %q", ErrInvalidURL, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	return u, nil
}

// readCapped reads at most limit bytes of r; truncated reports that the
// body went on past them (the rest is left unread, so a slow or endless
// body costs no more than the cap).
func readCapped(r io.Reader, limit int64) (body []byte, truncated bool, err error) {
	body, err = io.ReadAll(io.LimitReader(r, limit+1))
	if int64(len(body)) > limit {
		return body[:limit], true, err
	}
	return body, false, err
}
