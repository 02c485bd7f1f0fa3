package httpfetch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"

	"github.com/fetchstream/fetchstream/stages/httpfetch/credentials"
	"github.com/fetchstream/fetchstream/wire"
)

// ErrInvalidRequest is wrapped by the refusals of a request that must not
// be sent (error kind invalid_request): wire.ErrBadRequest's, a body over
// MaxRequestBody, an unknown credential or one used outside its hosts
// or its input subjects.
var ErrInvalidRequest = wire.ErrBadRequest

// DefaultMaxRequestBody is Config.MaxRequestBody when it is 0.
const DefaultMaxRequestBody = 256 << 10

// spec is one request to make, resolved and checked once, then shared
// read-only by its attempts.
type spec struct {
	url    *url.URL
	method string
	// header is the request's whole header: the User-Agent, the caller's
	// headers and the credential's. It is the Fetcher's shared header for
	// a plain GET; never changed once built (a redirect gets a copy).
	header http.Header
	body   []byte
	cred   *credentials.Credential
	// redactor replaces cred's patterns in what a result shows; nil
	// without a credential.
	redactor *redactor
	follow   bool
	// responseHeaders are the lower-case names of the response headers
	// the result returns.
	responseHeaders []string
	// retryOn is the statuses retried (nil: the defaults); retry is false
	// for a request that must not be retried at all (POST or PATCH without
	// an Idempotency-Key or retry_unsafe).
	retryOn []int
	retry   bool
	// cond is the request's validators at work (nil: none); its
	// attempts record their response's validators on it.
	cond *condition
}

// resolve merges opts's defaults into req and checks it all: the URL
// (invalid_url), then the method, headers, body and credential
// (invalid_request).
func (f *Fetcher) resolve(req wire.Request, opts *wire.RequestOptions) (*spec, error) {
	u, err := ParseTarget(req.URL)
	if err != nil {
		return nil, err
	}
	req = opts.Apply(req)
	if err := req.Validate(); err != nil {
		return nil, err
	}
	body, contentType, _ := req.Payload() // Validate checked it
	if int64(len(body)) > f.maxRequestBody {
		return nil, fmt.Errorf("%w: body of %d bytes is over the maximum of %d", ErrInvalidRequest, len(body), f.maxRequestBody)
	}
	s := &spec{url: u, method: wire.NormalMethod(req.Method), body: body, follow: opts.Follow(),
		header: f.header, responseHeaders: f.responseHeaders, retry: true}
	if opts != nil {
		if len(opts.ResponseHeaders) > 0 {
			s.responseHeaders = wire.LowerNames(f.responseHeaders, opts.ResponseHeaders)
		}
		s.retryOn = opts.RetryOn
	}
	if req.Credential != "" {
		cred, ok := f.credentials.Load().Lookup(req.Credential)
		if !ok {
			return nil, fmt.Errorf("%w: no credential named %q", ErrInvalidRequest, req.Credential)
		}
		if !cred.Allows(u.Hostname(), urlPort(u)) {
			return nil, fmt.Errorf("%w: credential %q may not be sent to %s", ErrInvalidRequest, req.Credential, u.Host)
		}
		if subject := batchSubject(opts); !cred.AllowsSubject(subject) {
			return nil, fmt.Errorf("%w: credential %q may not be used from subject %q", ErrInvalidRequest, req.Credential, subject)
		}
		s.cred, s.redactor = cred, f.redactorFor(cred)
	}
	if len(req.Headers) > 0 || contentType != "" || s.cred != nil || (opts != nil && opts.UserAgent != "") {
		s.header = f.header.Clone()
		if opts != nil && opts.UserAgent != "" {
			s.header.Set("User-Agent", opts.UserAgent)
		}
		if contentType != "" {
			s.header.Set("Content-Type", contentType)
		}
		for name, value := range req.Headers {
			s.header[textproto.CanonicalMIMEHeaderKey(name)] = []string{value}
		}
		if s.cred != nil {
			for name, values := range s.cred.Header() {
				s.header[name] = values
			}
		}
	}
	if s.method == http.MethodPost || s.method == http.MethodPatch {
		s.retry = (opts != nil && opts.RetryUnsafe) || s.header.Get("Idempotency-Key") != ""
	}
	return s, nil
}

// urlPort is u's port, or its scheme's default.
func urlPort(u *url.URL) string {
	if port := u.Port(); port != "" {
		return port
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// credentialOnRedirect gives a redirect's request the credential's
// headers when its destination is one of the credential's hosts, and
// takes all of them away otherwise (net/http strips only Authorization
// and Cookie, and only by domain), or when the redirect leaves https for
// http.
func (s *spec) credentialOnRedirect(req *http.Request, first *http.Request) {
	if s.cred == nil {
		return
	}
	allowed := s.cred.Allows(req.URL.Hostname(), urlPort(req.URL)) &&
		!(first.URL.Scheme == "https" && req.URL.Scheme != "https")
	for name, values := range s.cred.Header() {
		if allowed {
			req.Header[name] = values
		} else {
			delete(req.Header, name)
		}
	}
}

// newRequest is http.NewRequestWithContext for s, without parsing its
// URL again. Its Header is s.header, read-only: neither the client nor
// the transport changes a request's headers (redirects get a copy). A
// body is a new reader for each attempt, with GetBody for a 307 or 308.
// Host is left empty: the request's Host header is then its URL's host,
// as NewRequest's Host would make it, and the client does not copy the
// URL to put another host in it for cookies (this client has no jar).
func (s *spec) newRequest(ctx context.Context) *http.Request {
	req := http.Request{
		Method:     s.method,
		URL:        s.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     s.header,
	}
	if len(s.body) > 0 {
		body := s.body
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.Body, _ = req.GetBody()
	}
	return req.WithContext(ctx)
}

// retryable reports whether a failed attempt of s, ended as r, may pass
// on another attempt.
func (s *spec) retryable(r *wire.Result) bool {
	if !s.retry {
		return false
	}
	switch r.Error {
	case wire.ErrTimeout, wire.ErrConnection:
		return true
	case wire.ErrHTTP:
		if s.retryOn != nil {
			return slices.Contains(s.retryOn, r.Status)
		}
		switch r.Status {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
	}
	return false
}

// batchSubject is the subject the request's batch arrived on, "" when
// unknown (no options): a credential scoped to subjects is then refused.
func batchSubject(opts *wire.RequestOptions) string {
	if opts == nil {
		return ""
	}
	return opts.Subject
}

// resultMethod is what a result says of its method: the method when it
// is one of wire.Methods but GET, else nothing (an unknown method is
// named by the invalid_request message, cut short).
func resultMethod(req *wire.Request, opts *wire.RequestOptions) string {
	method := req.Method
	if method == "" && opts != nil {
		method = opts.Method
	}
	if method == "" || !wire.ValidMethod(method) {
		return ""
	}
	if m := wire.NormalMethod(method); m != http.MethodGet {
		return m
	}
	return ""
}
