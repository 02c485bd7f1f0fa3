package wire

import (
	"fmt"
	"maps"
	"net/textproto"
	"slices"
	"strings"
)

// RequestOptions are a JSON object batch's settings for its requests:
// defaults that each item may override (Method, Headers, Credential,
// UserAgent) and how responses are handled (ResponseHeaders,
// FollowRedirects, RetryOn, RetryUnsafe). Batch embeds it, so its fields
// sit at the top level of the batch object.
type RequestOptions struct {
	// Method is every item's method unless it names its own; "" is GET.
	Method string `json:"method,omitempty"`
	// Headers are sent with every item; an item's header of the same
	// name wins.
	Headers map[string]string `json:"headers,omitempty"`
	// Credential is every item's credential unless it names its own.
	Credential string `json:"credential,omitempty"`
	// UserAgent replaces the service's User-Agent (a User-Agent header
	// wins over it).
	UserAgent string `json:"user_agent,omitempty"`
	// ResponseHeaders names the response headers each result returns in
	// its headers (besides the service's own list), case-insensitively.
	ResponseHeaders []string `json:"response_headers,omitempty"`
	// FollowRedirects false returns a 3xx as the result itself (status,
	// no error); absent or true, redirects are followed.
	FollowRedirects *bool `json:"follow_redirects,omitempty"`
	// RetryOn, when set, is the statuses retried instead of the service's
	// (429, 502, 503, 504): a subset of RetryableStatuses. An empty list
	// is as absent.
	RetryOn []int `json:"retry_on,omitempty"`
	// RetryUnsafe lets POST and PATCH requests be retried; without it only
	// those that send an Idempotency-Key header are.
	RetryUnsafe bool `json:"retry_unsafe,omitempty"`
	// Conditional false opts the batch out of conditional requests: with
	// validators kept (run --validators), its GETs are sent without the
	// If-None-Match and If-Modified-Since the service would add, so each
	// gets a full response. Its results still say whether they changed,
	// by the body's hash, and still update the validators. Absent or true:
	// conditional.
	Conditional *bool `json:"conditional,omitempty"`
	// Poll scopes the validators (run --validators) the batch's requests
	// read and keep: batches with the same Poll, or none, share the change
	// state of each request (a hostile publisher of another batch without
	// Poll can make a request of yours say changed, or unchanged, by
	// polling it too); a batch with a Poll of its own has its own. A
	// schedule's runs carry the schedule's name. At most MaxPollLength
	// letters, digits, '-' and '_'; "" is none.
	Poll string `json:"poll,omitempty"`
	// Subject is the NATS subject the batch arrived on, set by the
	// service, never by a publisher (it is not part of the JSON): a
	// credential scoped to input subjects is usable only from those.
	Subject string `json:"-"`
}

// RetryableStatuses returns the statuses that RetryOn may name. It is a
// new slice at each call.
func RetryableStatuses() []int { return []int{408, 425, 429, 500, 502, 503, 504} }

// Follow reports whether redirects are followed (the default, and for a
// nil o).
func (o *RequestOptions) Follow() bool {
	return o == nil || o.FollowRedirects == nil || *o.FollowRedirects
}

// ConditionalOn reports whether the batch's GETs may be sent conditionally
// (the default, and for a nil o).
func (o *RequestOptions) ConditionalOn() bool {
	return o == nil || o.Conditional == nil || *o.Conditional
}

// MaxPollLength bounds RequestOptions.Poll.
const MaxPollLength = 64

// ValidPoll checks a poll scope: "" (none), or 1 to MaxPollLength
// letters, digits, '-' and '_', as a schedule's name.
func ValidPoll(poll string) error {
	if poll == "" {
		return nil
	}
	if len(poll) > MaxPollLength || !scheduleName.MatchString(poll) {
		return fmt.Errorf("%w: poll %q: want 1 to %d letters, digits, '-' or '_'", ErrBadBatch, cut(poll, 80), MaxPollLength)
	}
	return nil
}

// validate checks the batch-level settings that no item overrides; a
// bad one fails the batch (ErrBadBatch). Method, Headers and Credential
// are checked per item, merged (see Batch.Request), so a bad default
// fails each item as invalid_request.
func (o *RequestOptions) validate() error {
	for _, status := range o.RetryOn {
		if !slices.Contains(RetryableStatuses(), status) {
			return fmt.Errorf("%w: retry_on may hold only %v, not %d", ErrBadBatch, RetryableStatuses(), status)
		}
	}
	for _, name := range o.ResponseHeaders {
		if !ValidHeaderName(name) {
			return fmt.Errorf("%w: response_headers: %q is not a header name", ErrBadBatch, cut(name, 64))
		}
	}
	if err := ValidPoll(o.Poll); err != nil {
		return err
	}
	if !ValidHeaderValue(o.UserAgent) {
		return fmt.Errorf("%w: user_agent has a control character", ErrBadBatch)
	}
	return nil
}

// Request returns item i with the batch's defaults merged in: its method
// or the batch's, its credential or the batch's, and the batch's headers
// overlaid with its own (names compared case-insensitively, the item's
// winning). Nothing is validated. The item's map is not changed; a new
// one is made only when both have headers.
func (b *Batch) Request(i int) Request { return b.RequestOptions.Apply(b.URLs[i]) }

// Apply returns r with o's defaults merged in, as Batch.Request does.
// A nil o is no defaults.
func (o *RequestOptions) Apply(r Request) Request {
	if o == nil {
		return r
	}
	if r.Method == "" {
		r.Method = o.Method
	}
	if r.Credential == "" {
		r.Credential = o.Credential
	}
	r.Headers = MergeHeaders(o.Headers, r.Headers)
	return r
}

// MergeHeaders lays over on base: a header of over replaces base's of
// the same name in any case. It returns base or over itself when the
// other is empty, else a new map.
func MergeHeaders(base, over map[string]string) map[string]string {
	if len(base) == 0 {
		return over
	}
	if len(over) == 0 {
		return base
	}
	merged := make(map[string]string, len(base)+len(over))
	names := make(map[string]bool, len(over))
	for name := range over {
		names[textproto.CanonicalMIMEHeaderKey(name)] = true
	}
	for name, value := range base {
		if !names[textproto.CanonicalMIMEHeaderKey(name)] {
			merged[name] = value
		}
	}
	maps.Copy(merged, over)
	return merged
}

// LowerNames returns names lower-cased, without duplicates, in order.
func LowerNames(names ...[]string) []string {
	var out []string
	for _, list := range names {
		for _, name := range list {
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// The range of a batch's per_host_rate, in requests per second; 0 (or
// absent) is no pace of the batch's own. The floor, one request per 100
// seconds, is slower than any crawl that expects its results, and keeps
// a two-URL batch on one host within minutes instead of years
// (1e-9 never finished); the ceiling, one request per 100 µs, is already
// no pace at all in practice, and keeps 1/rate a duration that cannot
// overflow (1e-300 turned pacing off).
const (
	MinPerHostRate = 0.01
	MaxPerHostRate = 10000.0
)
