// Package hostsignal carries, through a request's context, the hook by
// which an HTTP fetcher tells whoever schedules its requests that a host
// asked it to slow down, and asks that scheduler how long a host is paused
// before it retries. The fetch stage (package stages) installs a Receiver
// on its workers' contexts; the fetcher (package stages/httpfetch) calls
// it. Neither imports the other, as net/http/httptrace hooks a client
// without the client knowing its caller.
package hostsignal

import (
	"context"
	"time"
)

// Receiver is told of hosts that say "slow down", and knows their pauses.
// Its methods are called from many goroutines at once.
type Receiver interface {
	// SlowDown is called when a request for rawURL (the URL the fetch was
	// asked for, not a redirect's) is answered 429 or 503. retryAfter is
	// the response's Retry-After, or negative when it had none. It may
	// block until ctx is done, briefly.
	SlowDown(ctx context.Context, rawURL string, status int, retryAfter time.Duration)
	// PausedFor returns how long rawURL's host is still paused (zero when
	// it is not); a fetcher waits at least that long before a retry.
	PausedFor(rawURL string) time.Duration
}

type key struct{}

// With returns ctx carrying r.
func With(ctx context.Context, r Receiver) context.Context { return context.WithValue(ctx, key{}, r) }

// From returns the Receiver ctx carries, or nil.
func From(ctx context.Context) Receiver {
	r, _ := ctx.Value(key{}).(Receiver)
	return r
}
