package httpfetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fetchstream/fetchstream/stages/httpfetch/credentials"
	"github.com/fetchstream/fetchstream/wire"
)

// Validators are what the last 200 response to a request said of its
// version: its ETag and Last-Modified (each at most MaxValidatorLen
// bytes of a valid header value, else left out) and the SHA-256 of its
// body as the result described it (body_sha256; "" for an empty body),
// and when they were kept. A ValidatorStore holds them as JSON.
type Validators struct {
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	SHA256       string    `json:"sha256,omitempty"`
	At           time.Time `json:"at"`
}

// MaxValidatorLen bounds an ETag or Last-Modified that is kept and sent
// back: a server's longer one is not kept (the request's next fetch is
// then unconditional on it), so that a hostile server cannot bloat the
// store or the requests.
const MaxValidatorLen = 1024

// DefaultValidatorTimeout is Config.ValidatorTimeout when it is 0.
const DefaultValidatorTimeout = 250 * time.Millisecond

// ValidatorStore keeps Validators per request key (ValidatorKey). It
// must be safe for concurrent use. connectors.ValidatorBucket keeps
// them in a JetStream key-value bucket.
type ValidatorStore interface {
	// Lookup returns what is kept under key; found is false when nothing
	// is (or what is there is not Validators). It returns by ctx's end
	// at the latest, with an error when it could not tell.
	Lookup(ctx context.Context, key string) (v Validators, found bool, err error)
	// Store keeps v under key without blocking the fetch: it may queue
	// the write, and may drop it when its queue is full.
	Store(key string, v Validators)
}

// ValidatorKey is the key a request's validators are kept under: the
// SHA-256, in hex, of the batch's poll scope (wire.RequestOptions.Poll,
// "" for none), the method, the URL without userinfo or fragment (its
// host lower-cased, the scheme's default port dropped), and every header
// of the request but the conditional ones, by canonical name in order,
// with its values: any header may select another representation
// (Accept, Accept-Language, Range, a custom one), and requests that
// differ in one must not share validators. A header the credential cred
// sets is keyed by the credential's name only, never its value: no
// secret is part of the key, nor a URL's password. A nil cred is none.
func ValidatorKey(poll, method string, u *url.URL, header http.Header, cred *credentials.Credential) string {
	h := sha256.New()
	part := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var credName string
	var credHeader http.Header
	if cred != nil {
		credName, credHeader = cred.Name(), cred.Header()
	}
	for _, p := range []string{poll, method, strings.ToLower(u.Scheme), keyHost(u), u.EscapedPath(), u.RawQuery, credName} {
		part(p)
	}
	for _, name := range slices.Sorted(maps.Keys(header)) {
		if slices.Contains(ownConditionals, name) {
			continue
		}
		h.Write([]byte{1})
		part(name)
		if _, fromCred := credHeader[name]; fromCred {
			part("credential " + credName)
			continue
		}
		for _, v := range header[name] {
			part(v)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// keyHost is u's host as the key takes it: lower-cased, without the
// scheme's default port (HTTP.example:80 and http.example are one).
func keyHost(u *url.URL) string {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" || (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		return host
	}
	return host + ":" + port
}

// ValidatorStats counts what the validators did, since the Fetcher was
// made. Each field only grows.
type ValidatorStats struct {
	// NotModified counts 304s to the service's own conditional requests.
	NotModified uint64
	// Changed and Unchanged count results that said changed true and false.
	Changed, Unchanged uint64
	// LookupFailures counts lookups that failed or outlived
	// ValidatorTimeout: those requests went out unconditional, changed.
	LookupFailures uint64
}

type validatorCounters struct {
	notModified, changed, unchanged, lookupFailures atomic.Uint64
}

// ValidatorStats returns the Fetcher's validator counts (all zero
// without a ValidatorStore).
func (f *Fetcher) ValidatorStats() ValidatorStats {
	c := &f.validatorCounts
	return ValidatorStats{NotModified: c.notModified.Load(), Changed: c.changed.Load(),
		Unchanged: c.unchanged.Load(), LookupFailures: c.lookupFailures.Load()}
}

// condition is a request's validators at work: what was kept, whether
// they went out as conditional headers, and what the response said. It
// is the one part of a spec that changes: each attempt (one at a time,
// on the request's goroutine) records its response's validators.
type condition struct {
	key   string
	kept  Validators
	found bool
	sent  bool // If-None-Match or If-Modified-Since was added
	// etag and lastModified are the last response's, kept or not.
	etag, lastModified string
}

// ownConditionals are the request headers that make a request
// conditional: a request that sets one keeps it as it is, and gets no
// changed (see conditionFor).
var ownConditionals = []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"}

// conditionFor looks up s's validators and, when the batch allows it,
// adds them to s's header as If-None-Match and If-Modified-Since. It is
// nil (no validators, nothing stored, no changed) without a store, for a
// method other than GET, and for a request that sets a conditional
// header of its own. A lookup that fails or outlives ValidatorTimeout
// leaves the request unconditional, its result changed.
func (f *Fetcher) conditionFor(ctx context.Context, s *spec, opts *wire.RequestOptions) *condition {
	if f.validators == nil || s.method != http.MethodGet {
		return nil
	}
	for _, name := range ownConditionals {
		if _, set := s.header[name]; set {
			return nil
		}
	}
	var poll string
	if opts != nil {
		poll = opts.Poll
	}
	c := &condition{key: ValidatorKey(poll, s.method, s.url, s.header, s.cred)}
	lookupCtx, cancel := context.WithTimeout(ctx, f.validatorTimeout)
	kept, found, err := f.validators.Lookup(lookupCtx, c.key)
	cancel()
	if err != nil {
		if ctx.Err() == nil || errors.Is(err, context.DeadlineExceeded) {
			f.validatorCounts.lookupFailures.Add(1)
		}
		return c
	}
	c.kept, c.found = kept, found
	etag, lastModified := sendable(kept.ETag), sendable(kept.LastModified)
	if !found || !opts.ConditionalOn() || (etag == "" && lastModified == "") {
		return c
	}
	s.header = s.header.Clone() // the Fetcher's shared header, or this request's own
	if etag != "" {
		s.header["If-None-Match"] = []string{etag}
	}
	if lastModified != "" {
		s.header["If-Modified-Since"] = []string{lastModified}
	}
	c.sent = true
	return c
}

// sendable is v when it may go out as a header value and be kept: at
// most MaxValidatorLen bytes, no control character (CR, LF, NUL: no
// header injection from what a server sent or the store holds), else "".
func sendable(v string) string {
	if len(v) > MaxValidatorLen || !wire.ValidHeaderValue(v) {
		return ""
	}
	return v
}

// record notes a response's validators on c (nil c: none kept).
func (c *condition) record(header http.Header) {
	if c != nil {
		c.etag, c.lastModified = header.Get("ETag"), header.Get("Last-Modified")
	}
}

// settle sets res.Changed (and NotModified) from c, once res is the
// request's final result, and keeps the new validators. Only a 200, and a
// 304 to a conditional request of c's own, say changed and keep
// validators (a 200 whose body was cut at max-body is always changed,
// its hash not kept); an error or any other status (a 206 partial body, a 204,
// another 2xx) leaves res and the store as they are, so that a part of a
// representation never stands for the whole. A 200 is changed when
// nothing was kept or its body's hash differs; a 304 is not, and renews
// what was kept.
func (f *Fetcher) settle(c *condition, s *spec, res *wire.Result) {
	if c == nil || res.Error != "" {
		return
	}
	var changed bool
	next := Validators{ETag: f.keepable(s, c.etag), LastModified: f.keepable(s, c.lastModified), At: time.Now().UTC()}
	switch {
	case res.Status == http.StatusNotModified && c.sent:
		res.NotModified = true
		next.SHA256 = c.kept.SHA256
		if next.ETag == "" && next.LastModified == "" { // a 304 need not repeat them
			next.ETag, next.LastModified = sendable(c.kept.ETag), sendable(c.kept.LastModified)
		}
		f.validatorCounts.notModified.Add(1)
	case res.Status == http.StatusOK && res.BodyTruncated:
		// The hash is of the first max-body bytes only: a change past them
		// would go unseen, so say changed and keep no hash.
		changed = true
	case res.Status == http.StatusOK:
		next.SHA256 = res.BodySHA256
		changed = !c.found || c.kept.SHA256 != res.BodySHA256
	default:
		return
	}
	res.Changed = &changed
	if changed {
		f.validatorCounts.changed.Add(1)
	} else {
		f.validatorCounts.unchanged.Add(1)
	}
	f.validators.Store(c.key, next)
}

// keepable is a response's validator v as it may be kept: sendable, and
// for a request with a credential, not holding any form of its value.
func (f *Fetcher) keepable(s *spec, v string) string {
	v = sendable(v)
	if v != "" && s.redactor != nil {
		if _, echoed := s.redactor.redactString(v); echoed {
			return ""
		}
	}
	return v
}
