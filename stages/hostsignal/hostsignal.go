// Package hostsignal carries, through a request's context, the hooks by
// which an HTTP fetcher tells whoever schedules its requests that a host
// asked it to slow down, asks that scheduler how long a host is paused
// before it retries, and may hand it a retry that must wait for the pause
// (Deferrer), to take up later from a Resume. The fetch stage (package
// stages) installs a Receiver on its workers' contexts; the fetcher
// (package stages/httpfetch) calls it. Neither imports the other, as
// net/http/httptrace hooks a client without the client knowing its caller.
package hostsignal

import (
	"context"
	"time"

	"github.com/fetchstream/fetchstream/wire"
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

// Deferrer is a Receiver that can take a retry off the fetcher's hands
// when the retry must wait for its host's pause, so that the wait holds no
// worker: the scheduler keeps the URL until the pause is over, then
// fetches it again with a context carrying the Resume.
type Deferrer interface {
	Receiver
	// Defer is offered the retry of rawURL after r.Attempts attempts,
	// which must wait wait for its host. Returning true takes it: the
	// fetcher then returns r.Last at once, and the result the caller
	// keeps is the one of the call it makes again with WithResume(r).
	Defer(rawURL string, wait time.Duration, r Resume) bool
}

// Resume is what a fetch handed back with Defer needs to go on: attempts
// made, the first one's start (the budget and the result's elapsed time
// count from it) and the last attempt's result, which stands when the
// budget is spent by the time the URL comes back.
type Resume struct {
	Attempts int
	Start    time.Time
	Last     wire.Result
}

type key struct{}

type resumeKey struct{}

// WithResume returns ctx carrying r, for the fetch that takes up a
// deferred retry.
func WithResume(ctx context.Context, r Resume) context.Context {
	return context.WithValue(ctx, resumeKey{}, &r)
}

// ResumeFrom returns the Resume ctx carries, or nil. The caller reads it
// and must not change it. It is a pointer so that a fetch does not copy a
// Resume (a whole wire.Result) onto its stack: the fetch stage's workers
// keep their stacks between requests, at the size the deepest request
// grew them to.
func ResumeFrom(ctx context.Context) *Resume {
	r, _ := ctx.Value(resumeKey{}).(*Resume)
	return r
}

// With returns ctx carrying r.
func With(ctx context.Context, r Receiver) context.Context { return context.WithValue(ctx, key{}, r) }

// From returns the Receiver ctx carries, or nil.
func From(ctx context.Context) Receiver {
	r, _ := ctx.Value(key{}).(Receiver)
	return r
}
