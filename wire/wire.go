// Package wire holds the JSON contract between fetchstream and its clients:
// the batch a client publishes (URLs, or requests with a method, headers,
// a body and a credential's name, and batch-level request options), the
// result it gets back for each URL, the summary that closes a batch, and
// the closed set of error kinds.
//
// A client that publishes batches and reads results needs only this package
// and a NATS client. The subjects default to DefaultInSubject,
// DefaultResultsSubject and DefaultBatchesSubject.
//
// Beside the contract, it holds what the module's packages share to
// check it and their settings alike: the validity of subjects, methods
// and headers, and ConfigError, the field-named refusal of a config.
package wire

import (
	"encoding/json"
	"time"
)

// Default subjects and header names of the wire contract.
const (
	DefaultInSubject      = "fetch.urls"
	DefaultResultsSubject = "fetch.results"
	DefaultBatchesSubject = "fetch.batches"

	// HeaderBatchID names a batch sent as plain text or as a JSON array.
	// A JSON object batch names itself with its "id" field, which wins.
	HeaderBatchID = "Fetch-Batch-Id"

	// HeaderReplyTo asks for a reply on the subject it names, once the
	// batch is done: how request-reply works in JetStream mode, where a
	// stream keeps a message's headers but not its reply subject. It works
	// in core mode too, and wins over the message's reply subject. A
	// subject with wildcards or spaces is ignored.
	HeaderReplyTo = "Fetch-Reply-To"
	// HeaderReplyStream set to "true" asks for a streamed reply: each
	// result as its own message to the reply subject, in batch order, as
	// soon as it is published, then the summary as the end marker. It
	// serves batches whose results would not fit in one message. A batch
	// redelivered after a worker died streams again from index 0.
	HeaderReplyStream = "Fetch-Reply-Stream"
	// HeaderReplyPart marks each message of a streamed reply:
	// ReplyPartResult or ReplyPartSummary (the last).
	HeaderReplyPart = "Fetch-Reply-Part"
)

// Headers of NATS message schedules (ADR-51, nats-server 2.14 and
// later), as `fetchstream schedule add` and the Go client's Schedule use
// them: a schedule is a message on its own subject in the schedules
// stream (wire.SchedulesStream), holding the batch, that the server
// publishes again, and the input stream sources into the input.
const (
	// HeaderSchedule is the schedule's spec: "@every 1m", or a cron
	// expression with seconds ("0 */5 * * * *").
	HeaderSchedule = "Nats-Schedule"
	// HeaderScheduleTarget is the subject the server publishes the batch
	// to: the schedule's run subject (wire.ScheduleRunSubject) in the
	// schedules stream.
	HeaderScheduleTarget = "Nats-Schedule-Target"
	// HeaderScheduleTTL is how long each run the schedule publishes lives
	// if no service takes it (ScheduleRunTTL): runs missed while the
	// service is down expire instead of piling up.
	HeaderScheduleTTL = "Nats-Schedule-TTL"
	// HeaderScheduler is set by the server on each batch a schedule
	// publishes: the schedule's subject. The service counts them.
	HeaderScheduler = "Nats-Scheduler"
	// HeaderScheduleNext is set by the server on each batch a schedule
	// publishes: when the schedule fires next (RFC 3339).
	HeaderScheduleNext = "Nats-Schedule-Next"
)

// Values of HeaderReplyPart.
const (
	ReplyPartResult  = "result"
	ReplyPartSummary = "summary"
)

// DefaultDeadLetterSubject is where the JetStream mode sends the batches it
// gives up on.
const DefaultDeadLetterSubject = "fetch.dead"

// A message on the dead-letter subject is the batch as it was published
// (same data, same headers but the Nats-* ones: Nats-Msg-Id becomes
// "<stream>/<seq>/dead", and the original publish's conditions such as
// Nats-Expected-Stream are dropped), with these headers added, so it can
// be read, fixed and published again.
const (
	// HeaderDeadKind says why, as one word: DeadInvalidBatch,
	// DeadBatchTooLarge or DeadMaxDeliver.
	HeaderDeadKind = "Fetch-Dead-Kind"
	// HeaderDeadReason says why in words.
	HeaderDeadReason = "Fetch-Dead-Reason"
	// HeaderDeadStream and HeaderDeadSeq locate the batch in the input
	// stream; HeaderDeadDeliveries is how often it had been delivered.
	HeaderDeadStream     = "Fetch-Dead-Stream"
	HeaderDeadSeq        = "Fetch-Dead-Stream-Seq"
	HeaderDeadDeliveries = "Fetch-Dead-Deliveries"
	// HeaderDeadSummary is the batch's summary, as published on the
	// summaries subject (absent for a batch that never got one, such as
	// one handed in while shutting down on its last delivery).
	HeaderDeadSummary = "Fetch-Dead-Summary"
	// HeaderDeadSummaryError is present when that summary could not be
	// stored where the results go (the output stream stayed unavailable
	// past the retry bound, say): it says why, and the dead letter is then
	// the only record of how the batch ended.
	HeaderDeadSummaryError = "Fetch-Dead-Summary-Error"
	// HeaderDeadDataDropped is present when the batch's data was left out
	// because the dead letter would not fit in one message otherwise: the
	// data's size in bytes. HeaderDeadStream and HeaderDeadSeq still name
	// the batch. The summary goes first (then HeaderDeadSummary is absent
	// though the batch had one); the data only if that is not enough.
	HeaderDeadDataDropped = "Fetch-Dead-Data-Dropped"
)

// Values of HeaderDeadKind.
const (
	DeadInvalidBatch  = string(ErrInvalidBatch)  // the message could not be decoded
	DeadBatchTooLarge = string(ErrBatchTooLarge) // more URLs than the service's maximum
	DeadMaxDeliver    = string(ErrMaxDeliver)    // delivered MaxDeliver times without being completed
)

// ErrorKind is the closed set of reasons a URL (or a whole batch) failed.
// A result with an empty ErrorKind succeeded.
type ErrorKind string

// Per-URL error kinds. Status is set on ErrHTTP; Message on all others.
const (
	ErrTimeout          ErrorKind = "timeout"            // the request outlived its timeout (connect, headers or body)
	ErrHTTP             ErrorKind = "http_error"         // the server answered with a status >= 400
	ErrInvalidURL       ErrorKind = "invalid_url"        // not an absolute http or https URL
	ErrInvalidRequest   ErrorKind = "invalid_request"    // not sent: bad method or header, forbidden header, body too large, unknown credential or one used outside its hosts
	ErrBlocked          ErrorKind = "blocked"            // the destination is forbidden by the network policy
	ErrDNS              ErrorKind = "dns_error"          // the host name did not resolve
	ErrConnection       ErrorKind = "connection_error"   // refused, reset (an HTTP/2 stream too), closed, or a reply that breaks HTTP before a full response
	ErrTLS              ErrorKind = "tls_error"          // handshake or certificate failure, or an https URL whose server does not speak TLS
	ErrTooManyRedirects ErrorKind = "too_many_redirects" // the redirect limit was reached
	ErrTooLarge         ErrorKind = "too_large"          // response headers over 64 KiB, or a body over the cap when the service refuses rather than cuts
	ErrCanceled         ErrorKind = "canceled"           // the service stopped before the fetch could finish
	ErrRobotsDisallowed ErrorKind = "robots_disallowed"  // with robots.txt on, the site disallows the path: no request was made
	ErrUnexpected       ErrorKind = "unexpected_error"   // anything else; Message says what
	ErrInvalidBatch     ErrorKind = "invalid_batch"      // batch level: the message could not be decoded
	ErrBatchTooLarge    ErrorKind = "batch_too_large"    // batch level: more URLs than the service's maximum
	ErrReplyTooLarge    ErrorKind = "reply_too_large"    // batch level: the gathered reply would not fit in one NATS message
	ErrMaxDeliver       ErrorKind = "max_deliver"        // batch level (JetStream): delivered MaxDeliver times without being completed; dead-lettered, not fetched again
)

// URLErrorKinds returns the closed set of per-URL error kinds, in the
// order of the table above. It is a new slice at each call.
func URLErrorKinds() []ErrorKind {
	return []ErrorKind{ErrTimeout, ErrHTTP, ErrInvalidURL, ErrInvalidRequest, ErrBlocked, ErrDNS, ErrConnection, ErrTLS,
		ErrTooManyRedirects, ErrTooLarge, ErrCanceled, ErrRobotsDisallowed, ErrUnexpected}
}

// BatchErrorKinds returns the closed set of batch-level error kinds, which
// appear on summaries only. It is a new slice at each call.
func BatchErrorKinds() []ErrorKind {
	return []ErrorKind{ErrInvalidBatch, ErrBatchTooLarge, ErrReplyTooLarge, ErrMaxDeliver}
}

// Batch is the JSON object form of an input message. The text and JSON
// array forms decode into the same struct (see DecodeBatch).
type Batch struct {
	// ID names the batch in every result and in the summary. Optional: the
	// service makes one when neither this nor the Fetch-Batch-Id header is set.
	ID string `json:"id,omitempty"`
	// URLs to fetch, in the order the results come back: each a URL to
	// GET (a JSON string) or, in the object form, a request object.
	URLs []Request `json:"urls"`
	// TimeoutMS is the per-request timeout for this batch in milliseconds.
	// Zero means the service default; the service caps it at its maximum.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// Concurrency caps this batch's requests in flight (0 means only the
	// service's global cap applies; never more than the global cap).
	Concurrency int `json:"concurrency,omitempty"`
	// Priority weighs this batch's share of the service's slots when
	// batches compete, from MinPriority to MaxPriority: each level up
	// doubles the share, and every level gets some, so none starves.
	// Absent, it is 0, or 1 for a request-reply batch, which someone is
	// waiting on.
	Priority *int `json:"priority,omitempty"`
	// CorrelationID ties together the batches that one long list was split
	// into (fetchstream publish does this): they share slots as one flow,
	// served in the order they arrive, rather than as many.
	CorrelationID string `json:"correlation_id,omitempty"`
	// PerHostRate caps this batch's requests per second to any one host
	// (or registrable domain, as the service keys hosts). It may lower the
	// service's own per-host rate for this batch, never raise it; 0 means
	// the service's rate alone. Batches sharing a correlation id share it.
	PerHostRate float64 `json:"per_host_rate,omitempty"`
	// Robots asks the service to obey each site's robots.txt for this
	// batch, as it does for all batches when it is set up to: a URL the
	// site disallows fails as robots_disallowed, without a request, and
	// the site's Crawl-delay paces the batch's requests to it.
	Robots bool `json:"robots,omitempty"`
	// RequestOptions are the batch's request defaults and response
	// settings, at the top level of the object.
	RequestOptions
}

// Bounds of Batch.Priority.
const (
	MinPriority = 0
	MaxPriority = 9
)

// Result is one URL's outcome, published on the results subject in batch
// order. BatchID, Index, Count, URL, FetchedAt and ElapsedMS are always
// present; the rest when they apply.
type Result struct {
	BatchID       string `json:"batch_id"`
	CorrelationID string `json:"correlation_id,omitempty"`
	Index         int    `json:"index"`
	Count         int    `json:"count"`
	// URL is the URL as the batch gave it; URLTruncated says it (or
	// FinalURL) was cut so that the result fits in one NATS message.
	URL          string `json:"url"`
	URLTruncated bool   `json:"url_truncated,omitempty"`
	// Method is the request's method, when it is not GET.
	Method string `json:"method,omitempty"`
	// FinalURL is the URL of the last request tried, when redirects were
	// followed (or refused); Redirects counts the redirects followed.
	FinalURL  string `json:"final_url,omitempty"`
	Redirects int    `json:"redirects,omitempty"`
	// RemoteAddr is the address (IP and port) the last request tried was
	// sent to: the one the network policy judged.
	RemoteAddr string `json:"remote_addr,omitempty"`

	// Status is the HTTP status of the last response, when there was one.
	Status int `json:"status,omitempty"`
	// Error is empty on success (a status below 400).
	Error ErrorKind `json:"error,omitempty"`
	// Message explains Error for every kind but http_error.
	Message string `json:"message,omitempty"`
	// Attempts is how many requests were tried for the URL: 1, or more
	// when retries were made; absent when no request was tried.
	Attempts int `json:"attempts,omitempty"`

	ContentType string `json:"content_type,omitempty"`
	// ContentEncoding is set only when Body is the body as it came, still
	// in a content coding the service cannot decode (the response's
	// Content-Encoding, e.g. "compress"): Body is then base64 of the coded
	// bytes, and the sizes and hash describe them. A request sent with a
	// credential never gets such a body (it is unexpected_error instead).
	ContentEncoding string `json:"content_encoding,omitempty"`
	// ContentLength is the size of the (decoded) body: the bytes read, or,
	// when BodyTruncated, the size the server declared (omitted if none,
	// and when the body had a content coding, whose declared size counts
	// coded bytes). For a request sent with a credential it is the size
	// of the body returned (see Redacted).
	ContentLength int64 `json:"content_length,omitempty"`
	// Headers are the response headers asked for (response_headers), by
	// lower-case name, a repeated header's values joined with ", ".
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the response body: embedded as JSON when it is valid JSON,
	// else a JSON string (text, or base64 when BodyEncoding says so).
	// It is absent when empty, when the service's body mode leaves it out,
	// or when it was dropped to fit the result in one NATS message
	// (BodyTruncated is then set).
	Body         json.RawMessage `json:"body,omitempty"`
	BodyEncoding string          `json:"body_encoding,omitempty"`
	// BodyCharset names the charset a text body was declared in, when it
	// was not UTF-8: Body is then the text converted to UTF-8, while
	// BodyBytes and BodySHA256 describe the bytes as received.
	BodyCharset   string `json:"body_charset,omitempty"`
	BodyTruncated bool   `json:"body_truncated,omitempty"`
	// BodyBytes and BodySHA256 describe the decoded body bytes read: the
	// whole body, or with BodyTruncated the first max-body bytes. They are
	// set for every non-empty body read, whether or not Body carries the
	// bytes; an empty body has neither.
	// A text or base64 Body decodes to exactly those bytes (less, when cut,
	// an incomplete last UTF-8 sequence); a JSON Body is the same value,
	// re-encoded compactly. Two exceptions: text in another charset is
	// given as UTF-8 (BodyCharset names the original), and a body fetched
	// with a credential is described as returned: converted to UTF-8 when
	// it was in another charset, and with "[credential]" where the server
	// echoed a value of the credential (see Redacted).
	BodyBytes  int64  `json:"body_bytes,omitempty"`
	BodySHA256 string `json:"body_sha256,omitempty"`
	// Redacted says that the response (its body, a header asked for,
	// FinalURL or Message) showed a value of the request's credential, in
	// one of the forms an echo gives it, and "[credential]" stands there
	// instead. A redacted body is cut after redaction, and BodyBytes,
	// BodySHA256 and ContentLength describe the redacted bytes returned.
	Redacted bool `json:"redacted,omitempty"`
	// BodyObject says where the body went when it was over the inline cap
	// and the service keeps such bodies in an Object Store bucket: Body is
	// then absent, and BodyBytes and BodySHA256 describe the whole body.
	BodyObject *BodyObject `json:"body_object,omitempty"`
	// NotModified says the server answered 304 Not Modified to the
	// service's own conditional request (If-None-Match or
	// If-Modified-Since from the validators it keeps, see Changed): not
	// an error, Status is 304 and there is no body, which is the one the
	// last result of this request had. A 304 to a request that set its
	// own conditional headers is a plain status 304, without this.
	NotModified bool `json:"not_modified,omitempty"`
	// Changed is set only when the service keeps validators (run
	// --validators) and the request was a GET that did not set its own
	// If-None-Match, If-Modified-Since or other conditional header, and
	// got a 200 or the 304 above (a 206, 204 or other 2xx has none). It is
	// true when nothing was kept for the request (the first fetch, or after
	// the validators' TTL), when the body's SHA-256 differs from the one
	// kept, when the body was cut (BodyTruncated), and when the validators
	// could not be read in time (a change is never missed; one may be
	// reported twice); false on NotModified or the same hash.
	Changed *bool `json:"changed,omitempty"`

	// HostWaitMS is how long the URL waited for its host before its fetch
	// began: for the host's pace (per-host rate, Crawl-delay), for a pause
	// the host asked for (429 or 503 with Retry-After), or for its
	// robots.txt. Waiting for a free slot does not count; absent when the
	// URL did not wait for its host.
	HostWaitMS float64 `json:"host_wait_ms,omitempty"`
	// Timing breaks down the last request tried, when one was.
	Timing *Timing `json:"timing,omitempty"`
	// FetchedAt is when the fetch of the URL began (its first attempt).
	FetchedAt time.Time `json:"fetched_at,omitzero"`
	// ElapsedMS is the URL's wall time: every attempt and every wait.
	ElapsedMS float64 `json:"elapsed_ms"`
}

// BodyObject names a body kept in a JetStream Object Store bucket, under
// its SHA-256 (so a body fetched twice is stored once): `nats object get
// BUCKET NAME` fetches it. The bucket's TTL bounds how long it stays.
type BodyObject struct {
	Bucket string `json:"bucket"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex, as BodySHA256
}

// Timing is the net/http/httptrace breakdown of the last request a result
// tried (the final hop of its last attempt), in milliseconds. A phase that
// did not happen is absent: DNS for an IP literal, and DNS, connect and TLS
// on a Reused keep-alive connection.
type Timing struct {
	DNSMS     float64 `json:"dns_ms,omitempty"`
	ConnectMS float64 `json:"connect_ms,omitempty"`
	TLSMS     float64 `json:"tls_ms,omitempty"`
	// TTFBMS runs from asking for a connection to the first response byte.
	TTFBMS float64 `json:"ttfb_ms,omitempty"`
	Reused bool    `json:"reused,omitempty"`
}

// OK reports whether the URL was fetched with a status below 400.
func (r *Result) OK() bool { return r.Error == "" }

// Summary closes a batch on the batches subject, after its last result.
// Every way a batch ends publishes one. A batch that was rejected before
// fetching (invalid_batch, batch_too_large, max_deliver) has Error and
// Message set and Count of the URLs it held (zero when it could not be
// decoded).
//
// A summary names the batch as it was sent, so a client can match it: the
// id from the object or the Fetch-Batch-Id header, and the correlation id.
// Only a batch sent without any id gets one made up by the service. A
// batch rejected for its id (over MaxIDLength bytes, or not UTF-8) is
// named by EchoedID of the id it sent, with IDTruncated set when that
// cut it: a client then matches the batch whose id begins with BatchID.
type Summary struct {
	BatchID       string            `json:"batch_id"`
	CorrelationID string            `json:"correlation_id,omitempty"`
	Count         int               `json:"count"`
	OK            int               `json:"ok"`
	Failed        int               `json:"failed"`
	Errors        map[ErrorKind]int `json:"errors,omitempty"`
	ElapsedMS     float64           `json:"elapsed_ms"`
	Error         ErrorKind         `json:"error,omitempty"`
	Message       string            `json:"message,omitempty"`
	// IDTruncated says BatchID (or CorrelationID) holds only the first
	// MaxIDLength bytes of the id sent: see EchoedID.
	IDTruncated bool `json:"id_truncated,omitempty"`
}
