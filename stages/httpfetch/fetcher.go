// Package httpfetch is the HTTP side of fetchstream's fetch stage: a
// Fetcher turns one request (a URL to GET, or a wire.Request with its
// method, headers, body and credential) into a wire.Result, never an
// error. It validates the URL and the request, adds a named credential's
// headers only for that credential's hosts (and strips them from a
// redirect anywhere else), dials only where its Policy allows (judged on
// the resolved address at dial time, so every method, redirect and retry
// is covered, and DNS rebinding too), retries what may pass and is safe
// to repeat within a budget of timeout × (retries+1), decodes every
// content coding itself (gzip, deflate, br, zstd; a request may not set
// Accept-Encoding), reads at most MaxBody decoded bytes, redacts what a
// response echoes of a credential, in every form an echo gives it,
// before the body is cut or hashed, converts text in another charset to UTF-8,
// embeds the body as JSON or text, and maps every failure to one of
// wire's error kinds through Classify.
//
// A Fetcher is safe for concurrent use; its cost per URL beyond the
// request itself is an attempt state taken from a pool and the body's
// hash (see BenchmarkFetcherLoopback against BenchmarkBareClientLoopback).
package httpfetch

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fetchstream/fetchstream/stages/hostsignal"
	"github.com/fetchstream/fetchstream/stages/httpfetch/credentials"
	"github.com/fetchstream/fetchstream/wire"
)

// ErrConfig is wrapped by New's errors: a Config field out of range.
var ErrConfig = errors.New("invalid fetcher configuration")

// Config sets up the HTTP client behind the fetch stage.
type Config struct {
	// Concurrency sizes the keep-alive pool; it should match the fetch
	// stage's global cap so that every request in flight can reuse a
	// connection.
	Concurrency int
	// MaxBody caps the body bytes read per response, at least 1 (decoded bytes, so a
	// gzip bomb stops at the cap). Over the cap the body is cut and the
	// result says body_truncated, or, with RefuseLarge, fails as too_large.
	MaxBody     int64
	RefuseLarge bool
	// Objects, if set, keeps bodies over MaxBody and up to MaxObject
	// decoded bytes (0 means DefaultMaxObject): the result then carries
	// body_object instead of the body. A body over MaxObject is cut (or
	// refused) as without a store, after what was read of it is thrown away.
	// A body fetched with a credential is never stored (it could not be
	// redacted): it is cut inline.
	Objects   BodyStore
	MaxObject int64
	// BodyMode says which bodies results carry; "" is BodyAuto.
	BodyMode BodyMode
	// MaxRedirects is how many redirects a request may follow (0: none).
	MaxRedirects int
	// Retries is how many times a URL is tried again after a failure that
	// may pass (0 to MaxRetries); RetryBase and RetryMax shape the backoff
	// between attempts. See retryPolicy for what is retried and the budget.
	Retries             int
	RetryBase, RetryMax time.Duration
	// Policy says where the client may connect.
	Policy Policy
	// Resolver looks up host names; nil is the system's resolver. The
	// policy judges the addresses it returns, at dial time.
	Resolver *net.Resolver
	// UserAgent is sent with every request that sets none ("" is
	// "fetchstream"; no control characters); a batch's user_agent
	// replaces it.
	UserAgent string
	// MaxRequestBody caps a request's body; a larger one is refused as
	// invalid_request. 0 is DefaultMaxRequestBody.
	MaxRequestBody int64
	// ResponseHeaders names the response headers every result returns,
	// besides those a batch asks for.
	ResponseHeaders []string
	// Credentials are the named credentials requests may use; nil: none.
	Credentials *credentials.Set
	// TLSConfig, when set, is used for https (tests pass their CA here).
	TLSConfig *tls.Config
	// Validators, if set, keeps each GET's ETag, Last-Modified and body
	// hash, sends them back as If-None-Match and If-Modified-Since, and
	// makes results say whether they changed (see conditionFor, settle).
	// ValidatorTimeout bounds each lookup (0 is DefaultValidatorTimeout):
	// past it the request goes out unconditional and its result says
	// changed. The lookup happens once per URL, holding its slot.
	Validators       ValidatorStore
	ValidatorTimeout time.Duration
}

// Validate reports the first field of c that New would refuse, as a
// *wire.ConfigError naming it (wrapping ErrConfig), or nil.
func (c Config) Validate() error {
	fail := func(field, format string, args ...any) error {
		return wire.NewConfigError(ErrConfig, field, format, args...)
	}
	switch {
	case c.Concurrency < 1:
		return fail("Concurrency", "must be at least 1, got %d", c.Concurrency)
	case c.MaxBody < 1:
		return fail("MaxBody", "must be at least 1 byte, got %d", c.MaxBody)
	case c.MaxObject < 0:
		return fail("MaxObject", "must not be negative (0 means the default, %d), got %d", DefaultMaxObject, c.MaxObject)
	case c.Objects != nil && c.MaxObject != 0 && c.MaxObject <= c.MaxBody:
		return fail("MaxObject", "(%d) must be above MaxBody (%d): bodies over the inline cap go to the object store", c.MaxObject, c.MaxBody)
	case c.MaxRedirects < 0:
		return fail("MaxRedirects", "must not be negative, got %d", c.MaxRedirects)
	case c.Retries < 0 || c.Retries > MaxRetries:
		return fail("Retries", "must be from 0 to %d, got %d", MaxRetries, c.Retries)
	case c.RetryBase < 0:
		return fail("RetryBase", "must not be negative, got %s", c.RetryBase)
	case c.RetryMax < c.RetryBase:
		return fail("RetryMax", "(%s) must not be below RetryBase (%s)", c.RetryMax, c.RetryBase)
	case c.MaxRequestBody < 0:
		return fail("MaxRequestBody", "must not be negative (0 means the default, %d), got %d", DefaultMaxRequestBody, c.MaxRequestBody)
	case c.ValidatorTimeout < 0:
		return fail("ValidatorTimeout", "must not be negative (0 means the default, %s), got %s", DefaultValidatorTimeout, c.ValidatorTimeout)
	case !wire.ValidHeaderValue(c.UserAgent):
		return fail("UserAgent", "must not hold a control character (CR, LF, ...)")
	}
	for _, name := range c.ResponseHeaders {
		if !wire.ValidHeaderName(name) {
			return fail("ResponseHeaders", "%q is not a header name", name)
		}
	}
	if _, err := ParseBodyMode(string(c.BodyMode)); err != nil {
		return fail("BodyMode", "must be auto, text or none, got %q", c.BodyMode)
	}
	return nil
}

// Fetcher fetches one URL into a wire.Result. It is safe for concurrent use.
type Fetcher struct {
	client      *http.Client
	maxBody     int64
	refuseLarge bool
	objects     BodyStore
	maxObject   int64
	bodyMode    BodyMode
	retry       retryPolicy
	header      http.Header // a plain GET's, read-only: see spec.newRequest
	states      attemptStates

	maxRequestBody  int64
	responseHeaders []string // lower-case
	credentials     atomic.Pointer[credentials.Set]
	// redactors holds a *redactor per *credentials.Credential of the
	// current set, built at its first use; SetCredentials empties it.
	redactors sync.Map

	validators       ValidatorStore
	validatorTimeout time.Duration
	validatorCounts  validatorCounters
}

// New validates cfg and builds the HTTP client: a keep-alive pool
// sized to the concurrency, no proxy (an environment proxy would dial on
// the fetcher's behalf and bypass the policy, so HTTP_PROXY and the like
// are ignored), the policy checked on every dial, response headers capped
// at 64 KiB, and the redirect limit.
func New(cfg Config) (*Fetcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bodyMode, _ := ParseBodyMode(string(cfg.BodyMode))
	dialer := &dialer{net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
		Control: cfg.Policy.Control(), Resolver: cfg.Resolver}}
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
		// The fetcher decodes content codings itself (see decodeBody), all
		// it asks for and whatever a server sends unasked.
		DisableCompression: true,
		// A GET is a request line and a few headers: a small write buffer
		// saves 3 KiB per kept-alive connection (30 MiB at 10,000). The
		// read buffer holds response headers a line at a time (longer
		// lines are joined, MaxResponseHeaderBytes caps them all), and
		// bodies are read past it into the fetcher's own buffer: 2 KiB
		// instead of 4 saves 20 MiB at 10,000 connections.
		WriteBufferSize: 1 << 10,
		ReadBufferSize:  2 << 10,
	}
	client := &http.Client{Transport: transport, CheckRedirect: checkRedirect(cfg.MaxRedirects)}
	ua := cfg.UserAgent
	if ua == "" {
		ua = "fetchstream"
	}
	f := &Fetcher{
		client:      client,
		maxBody:     cfg.MaxBody,
		refuseLarge: cfg.RefuseLarge,
		objects:     cfg.Objects,
		maxObject:   cmp.Or(cfg.MaxObject, DefaultMaxObject),
		bodyMode:    bodyMode,
		retry:       retryPolicy{retries: cfg.Retries, base: cfg.RetryBase, max: cfg.RetryMax},
		header:      http.Header{"User-Agent": {ua}, wire.HeaderAcceptEncoding: {wire.AcceptEncoding}},

		maxRequestBody:  cmp.Or(cfg.MaxRequestBody, DefaultMaxRequestBody),
		responseHeaders: wire.LowerNames(cfg.ResponseHeaders),

		validators:       cfg.Validators,
		validatorTimeout: cmp.Or(cfg.ValidatorTimeout, DefaultValidatorTimeout),
	}
	f.credentials.Store(cfg.Credentials)
	return f, nil
}

// SetCredentials replaces the credentials (nil: none), for a reload:
// requests resolved from then on use the new set, those already under
// way keep the credential they started with.
func (f *Fetcher) SetCredentials(set *credentials.Set) {
	f.credentials.Store(set)
	f.redactors.Clear()
}

// redactorFor is cred's redactor, built once per credential and set.
func (f *Fetcher) redactorFor(cred *credentials.Credential) *redactor {
	if r, ok := f.redactors.Load(cred); ok {
		return r.(*redactor)
	}
	r, _ := f.redactors.LoadOrStore(cred, newRedactor(cred.Patterns()))
	return r.(*redactor)
}

// Close releases idle connections.
func (f *Fetcher) Close() { f.client.CloseIdleConnections() }

// Fetch GETs rawURL: Do with a plain URL and no batch options.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string, timeout time.Duration) wire.Result {
	return f.Do(ctx, wire.Request{URL: rawURL}, nil, timeout)
}

// Do makes req, with opts's defaults merged in (see
// wire.RequestOptions.Apply; nil opts is none), and returns its result
// with every field but BatchID, Index and Count set (the caller's). It
// never panics and never returns an error: every failure is a
// Result.Error kind. A request that must not be sent is invalid_request
// (see resolve), without a connection.
//
// timeout bounds each attempt (connect, headers and body); with retries,
// all attempts and the waits between them fit in timeout × (retries+1)
// (see retryPolicy), and the result is the last attempt's, with Attempts
// counting them. Do holds its caller's slot for all of that. When ctx
// is canceled, the request in flight or the wait before a retry ends at
// once and the result is canceled; when ctx was ended with a
// *hostsignal.Ended as its cause (the batch's lifetime ran out), a
// timeout or cancel takes that cause's kind and message instead.
//
// When ctx carries a hostsignal.Receiver, Do tells it of every 429 and
// 503 (with the Retry-After), and waits before a retry at least as long
// as it says req's host is paused: the retry respects the pause that the
// host asked of everyone (the wait still counts against the budget). When
// the Receiver is a hostsignal.Deferrer and the pause covers the wait, Do
// offers it the retry instead of waiting: taken, it returns at once, and
// a later Do with hostsignal.WithResume goes on from the attempts made,
// within the same budget.
func (f *Fetcher) Do(ctx context.Context, req wire.Request, opts *wire.RequestOptions, timeout time.Duration) (res wire.Result) {
	f.DoInto(ctx, &req, opts, timeout, &res)
	return res
}

// DoInto is Do with the request and the result by pointer: it reads *req
// (and never changes it) and overwrites *res with the result. It is for
// a caller that fetches on a long-lived goroutine, as the fetch stage's
// workers do: such a goroutine keeps the stack its deepest call grew it
// to, and while the request waits for its answer, DoInto's frames and
// those under it hold a pointer to the result, not copies of it (a
// wire.Result is 376 bytes; BenchmarkHeldRequestStack in stages shows the
// stack per request held).
func (f *Fetcher) DoInto(ctx context.Context, req *wire.Request, opts *wire.RequestOptions, timeout time.Duration, res *wire.Result) {
	start := time.Now()
	resume := hostsignal.ResumeFrom(ctx)
	if resume != nil {
		start = resume.Start
	}
	*res = wire.Result{}
	f.do(ctx, req, opts, timeout, start, resume, res)
	if res.Error == wire.ErrTimeout || res.Error == wire.ErrCanceled {
		if e := hostsignal.EndedBy(ctx); e != nil {
			res.Error, res.Message = e.Kind, e.Message // the scheduler ended it (its batch's lifetime), not the attempt's timeout
		}
	}
	res.URL, res.FetchedAt = req.URL, start.UTC()
	res.Method = resultMethod(req, opts)
	res.ElapsedMS = durationMS(time.Since(start))
}

// do fills *res, which is zero, with every field but those DoInto sets.
func (f *Fetcher) do(ctx context.Context, req *wire.Request, opts *wire.RequestOptions, timeout time.Duration,
	start time.Time, resume *hostsignal.Resume, res *wire.Result) {
	s, err := f.resolve(*req, opts)
	if err != nil {
		res.Error, res.Message = Classify(err)
		return
	}
	if err := ctx.Err(); err != nil {
		if resume != nil && resume.Attempts > 0 {
			*res = resume.Last
			stoppedWaiting(res, resume.Attempts)
			return
		}
		res.Error, res.Message = wire.ErrCanceled, "the service stopped before the fetch started"
		return
	}
	cond := f.conditionFor(ctx, s, opts)
	s.cond = cond
	deferred := false
	defer func() {
		if !deferred {
			f.settle(cond, s, res)
		}
	}()
	deadline := start.Add(f.retry.budget(timeout))
	attempts := 0
	if resume != nil {
		attempts = resume.Attempts
	}
	if attempts > 0 && time.Until(deadline) < timeout/2 {
		*res = resume.Last // the wait for the host spent the budget: the last attempt stands
		return
	}
	signals := hostsignal.From(ctx)
	deferrer, _ := signals.(hostsignal.Deferrer)
	for n := attempts + 1; ; n++ {
		retryAfter := f.try(ctx, s, n, min(timeout, time.Until(deadline)), res)
		answered := time.Now()
		res.Attempts = n
		retryable := s.retryable(res)
		var (
			hold      time.Duration // what is left of the host's pause
			heldUntil time.Time     // when it ends
		)
		if signals != nil {
			if st := res.Status; res.Error == wire.ErrHTTP && (st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable) {
				signals.SlowDown(ctx, req.URL, st, retryAfter)
			}
			if n <= f.retry.retries && retryable {
				hold = signals.PausedFor(req.URL)
				heldUntil = time.Now().Add(hold)
			}
		}
		if hold > 0 && hold > retryAfter {
			retryAfter = hold // the host's pause, as a Retry-After of its own
		}
		wait, again := f.retry.next(n, retryable, retryAfter, time.Until(deadline), timeout)
		if !again {
			return
		}
		// The retry is due wait after the answer; the pause covers it when
		// it lasts until then. Compared as times, not as durations: the
		// pause runs from when SlowDown was told, and SlowDown may block.
		if deferrer != nil && hold > 0 && !heldUntil.Add(deferSlack).Before(answered.Add(wait)) &&
			offer(deferrer, req.URL, wait, n, start, res) {
			deferred = true // a later Do goes on from here, and settles
			return
		}
		if !sleepTraced(ctx, wait, n+1) {
			stoppedWaiting(res, n)
			return
		}
	}
}
