// Package client is the Go client of fetchstream: it publishes a batch of
// URLs and gathers the results in order, as asyncio.gather does, or
// streams them in order as they come.
//
//	c, err := client.New(nc)
//	g, err := c.Gather(ctx, urls) // g.Results[i] is the result of urls[i]
//
// A batch's items may be requests (wire.Request: method, headers, body,
// a credential the service holds, by name) and the batch may carry
// request defaults (wire.RequestOptions); WithRequestOptions sets
// defaults for every batch of the client.
//
// A list longer than the batch maximum (WithMaxBatch) or than one NATS
// message is split into batches ID-1, ID-2, ... sharing the correlation id
// ID, published in order; results come back in the whole list's order
// whatever the order in which the service finishes the batches.
//
// Each batch asks for a streamed reply (wire.HeaderReplyTo and
// wire.HeaderReplyStream) to an inbox of the publish's own, in core and
// JetStream mode alike: its results come there in order, then its
// summary, whatever the batch's size, and no other client's results do. The client never waits
// forever: the context bounds every call, WithWaitTimeout bounds the wait
// for results, a slow consumer (NATS dropped messages for this client)
// ends the wait with ErrSlowConsumer, a core batch that nothing subscribes
// to ends it at once (NATS says so), and a wait with no sign of a service
// asks whether one is there (see Ping and WithNoServiceCheck): both as a
// *NoServiceError that says why. A refusal of the client's inbox by the
// service's reply policy is read on the batches subject
// (WithBatchesSubject), and a quiet wait can say what it is on
// (WithSilenceNotice).
//
// Tracing: Publish and the calls built on it put the W3C trace context
// of their ctx (its span, if any) in each batch's headers, so that the
// service's spans join the caller's trace, and each streamed Result holds
// the trace context its message carried (Result.Trace).
//
// The package imports only wire (and wire/tracectx), nats.go and its
// jetstream package, and OpenTelemetry's API (go.opentelemetry.io/otel,
// without the SDK): it does not link nats-server.
package client

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/wire"
)

// Defaults of the options.
const (
	DefaultMaxBatch       = 10000 // the service's default --max-batch
	DefaultWaitTimeout    = 5 * time.Minute
	DefaultBuffer         = 8192 // messages
	DefaultNoServiceAfter = 3 * time.Second
	// ServiceName is the NATS micro service name fetchstream registers;
	// Ping sends $SRV.PING.<ServiceName>.
	ServiceName = "fetchstream"
)

// Client publishes batches and follows their results on one NATS
// connection. It is safe for concurrent use; each Publish or Gather has
// its own subscriptions. The caller owns the connection and closes it.
type Client struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	in       string
	maxBatch int
	timeout  time.Duration
	wait     time.Duration
	buffer   int
	probe    time.Duration
	warn     func(error)
	request  wire.RequestOptions // defaults of the batches' requests
	batches  string              // the summaries subject, watched for refusals; "" not
	quiet    time.Duration       // WithSilenceNotice
	notice   func(Silence)

	mu       sync.Mutex
	streamAt time.Time // when the lookup below was made; zero: never
	stream   string    // the JetStream stream capturing in, "" for none
}

// noStreamRecheck is how long the answer "no stream captures the input
// subject" is kept: a service in JetStream mode may create its stream
// after the client started (they often start together), and a batch
// published as core NATS then has no reader.
const noStreamRecheck = time.Second

// Option sets an optional setting of New; it fails on an invalid value.
type Option func(*Client) error

// WithSubject sets the subject batches are published on (default
// wire.DefaultInSubject): the service's input subject. The client needs
// no other: each batch asks for its results as a streamed reply to the
// client's own inbox (wire.HeaderReplyTo, wire.HeaderReplyStream), so it
// reads no one else's results, in core and JetStream mode alike.
func WithSubject(in string) Option {
	return func(c *Client) error {
		if in == "" || strings.ContainsAny(in, " \t\r\n*>") {
			return fmt.Errorf("%w: input subject %q must be a non-empty subject without spaces or wildcards", ErrConfig, in)
		}
		c.in = in
		return nil
	}
}

// WithMaxBatch sets how many URLs one batch holds at most (default
// DefaultMaxBatch); a longer list is split. Keep it at or below the
// service's maximum, or its batches are rejected as batch_too_large.
func WithMaxBatch(n int) Option {
	return func(c *Client) error {
		if n < 1 {
			return fmt.Errorf("%w: max batch must be at least 1, got %d", ErrConfig, n)
		}
		c.maxBatch = n
		return nil
	}
}

// WithTimeout sets the per-request timeout of batches that do not name
// one (wire.Batch.TimeoutMS); 0, the default, leaves it to the service.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 || (d > 0 && d < time.Millisecond) {
			return fmt.Errorf("%w: timeout must be 0 or at least 1ms, got %s", ErrConfig, d)
		}
		c.timeout = d
		return nil
	}
}

// WithWaitTimeout bounds the whole wait for a publish's results, from the
// publish to the last summary (default DefaultWaitTimeout; 0: only the
// context bounds it). Past it the wait ends with ErrWaitTimeout.
func WithWaitTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 {
			return fmt.Errorf("%w: wait timeout must not be negative, got %s", ErrConfig, d)
		}
		c.wait = d
		return nil
	}
}

// WithBuffer sets how many results and summaries the client holds for
// each publish before NATS drops them (default DefaultBuffer). It bounds
// what is held between the connection and the reader; a reader that
// falls further behind gets ErrSlowConsumer. Only the publish's own
// batches' replies count.
func WithBuffer(messages int) Option {
	return func(c *Client) error {
		if messages < 1 {
			return fmt.Errorf("%w: buffer must be at least 1 message, got %d", ErrConfig, messages)
		}
		c.buffer = messages
		return nil
	}
}

// WithNoServiceCheck sets what a wait does when, after the given time, no
// result or summary of its batches has come: it asks Ping whether a
// service is there. If none is and no JetStream stream stores the
// batches, the wait ends with the *NoServiceError: nothing will serve
// them. If a stream stores them, warn (when not nil) is called once with
// that error and the wait goes on (a JetStream service may still come
// and serve the stored batch); with warn nil the wait ends with it. warn
// runs on the goroutine that waits (the one in Gather, or ranging over
// Stream.Results). Default: DefaultNoServiceAfter, warn nil. after 0
// turns the check off. Apart from this check, and whatever it says, a
// batch published on core NATS to a subject nothing subscribes to ends
// the wait at once with a *NoServiceError (Dropped): NATS says so.
func WithNoServiceCheck(after time.Duration, warn func(error)) Option {
	return func(c *Client) error {
		if after < 0 {
			return fmt.Errorf("%w: no-service check delay must not be negative, got %s", ErrConfig, after)
		}
		c.probe, c.warn = after, warn
		return nil
	}
}

// WithBatchesSubject names the service's summaries subject (default
// wire.DefaultBatchesSubject; "" turns this off). Until the first reply
// of its batches comes, and for at most RefusalWindow, a wait also reads
// it, for a summary of one of its batches that refuses the wait's own
// reply inbox (a service whose reply subjects do not take the client's
// inbox sends that refusal there alone): that batch ends as a
// *BatchError then, not at the wait timeout. The bound keeps a wait from
// copying every summary on the bus for long: a refusal comes as soon as a
// service reads the batch, which is at once unless a stream holds it
// behind others.
func WithBatchesSubject(subject string) Option {
	return func(c *Client) error {
		if subject != "" && wire.ValidSubject(subject, false) != nil {
			return fmt.Errorf("%w: batches subject %q must be a subject without wildcards or spaces", ErrConfig, subject)
		}
		c.batches = subject
		return nil
	}
}

// WithSilenceNotice calls notice on the waiting goroutine each time
// nothing of a wait's batches has come for every (from the publish or
// the last message), with what the wait is on (see Silence). Default:
// off (every 0).
func WithSilenceNotice(every time.Duration, notice func(Silence)) Option {
	return func(c *Client) error {
		if every < 0 {
			return fmt.Errorf("%w: silence notice interval must not be negative, got %s", ErrConfig, every)
		}
		c.quiet, c.notice = every, notice
		return nil
	}
}

// WithRequestOptions sets request defaults for the batches this client
// publishes, as curl's -X, -H, --user-agent and friends do: each field a
// batch leaves empty takes o's (Method, Credential, UserAgent,
// ResponseHeaders, FollowRedirects, RetryOn, RetryUnsafe, Conditional,
// Poll), and o's
// Headers are laid under the batch's (a batch's header of the same name
// wins, and an item's over both). Method, headers and credential are
// checked per request by the service: a bad one fails each request as
// wire.ErrInvalidRequest, not the batch. retry_on, response_headers and
// user_agent are checked here (ErrConfig), as the service would refuse
// the batch.
func WithRequestOptions(o wire.RequestOptions) Option {
	return func(c *Client) error {
		check := wire.Batch{URLs: wire.URLs("http://check/"), RequestOptions: o}
		data, err := json.Marshal(check)
		if err == nil {
			_, err = wire.DecodeBatch(data, "")
		}
		if err != nil {
			return invalid(ErrConfig, "request options", err, wire.ErrBadBatch)
		}
		c.request = o
		return nil
	}
}

// withRequestDefaults fills what b's options leave empty from d.
func withRequestDefaults(b wire.Batch, d wire.RequestOptions) wire.Batch {
	o := &b.RequestOptions
	o.Method = cmp.Or(o.Method, d.Method)
	o.Credential = cmp.Or(o.Credential, d.Credential)
	o.UserAgent = cmp.Or(o.UserAgent, d.UserAgent)
	o.Headers = wire.MergeHeaders(d.Headers, o.Headers)
	if o.ResponseHeaders == nil {
		o.ResponseHeaders = d.ResponseHeaders
	}
	if o.FollowRedirects == nil {
		o.FollowRedirects = d.FollowRedirects
	}
	if o.RetryOn == nil {
		o.RetryOn = d.RetryOn
	}
	o.RetryUnsafe = o.RetryUnsafe || d.RetryUnsafe
	if o.Conditional == nil {
		o.Conditional = d.Conditional
	}
	if o.Poll == "" {
		o.Poll = d.Poll
	}
	return b
}

// New returns a Client on nc. It makes no I/O: whether a JetStream stream
// captures the input subject is looked up on the first publish.
func New(nc *nats.Conn, opts ...Option) (*Client, error) {
	if nc == nil {
		return nil, fmt.Errorf("%w: nil NATS connection", ErrConfig)
	}
	c := &Client{nc: nc, in: wire.DefaultInSubject, maxBatch: DefaultMaxBatch, wait: DefaultWaitTimeout,
		buffer: DefaultBuffer, probe: DefaultNoServiceAfter, batches: wire.DefaultBatchesSubject}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c.js = js
	return c, nil
}

// inputStream returns the JetStream stream that captures the input
// subject, or "" when none does. A stream, once found, is kept; "none" is
// asked again after noStreamRecheck, so a stream created since is used.
func (c *Client) inputStream(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	known := !c.streamAt.IsZero()
	if known && (c.stream != "" || time.Since(c.streamAt) < noStreamRecheck) {
		return c.stream, nil
	}
	// A recheck is bounded tighter, and one that JetStream does not answer
	// (an election, an API that times out) keeps the answer "none": the
	// publish goes on core NATS, as it did before the recheck.
	lookup := 5 * time.Second
	if known {
		lookup = noStreamRecheck
	}
	ctx, cancel := context.WithTimeout(ctx, lookup)
	defer cancel()
	name, err := c.js.StreamNameBySubject(ctx, c.in)
	switch {
	case err == nil:
	case isNoStream(err):
		name = ""
	case known:
		c.streamAt = time.Now()
		return c.stream, nil
	default:
		return "", fmt.Errorf("which stream captures %s: %w", c.in, err)
	}
	c.stream, c.streamAt = name, time.Now()
	return name, nil
}
