package hostsignal

import (
	"context"
	"errors"

	"github.com/fetchstream/fetchstream/wire"
)

// Ended is a cause (see context.WithDeadlineCause) with which whoever
// schedules a request ends it for a reason of its own, such as its
// batch's lifetime running out. A fetcher whose request then fails as a
// timeout or a cancel reports Kind and Message instead of its own words
// for it, so the result says why the request ended; a request that
// finished before keeps its result.
type Ended struct {
	Kind    wire.ErrorKind
	Message string
}

func (e *Ended) Error() string { return string(e.Kind) + ": " + e.Message }

// EndedBy returns the *Ended that ctx was canceled with, or nil when ctx
// is not done or ended for another reason (a shutdown, the attempt's own
// timeout).
func EndedBy(ctx context.Context) *Ended {
	var e *Ended
	if ctx.Err() == nil || !errors.As(context.Cause(ctx), &e) {
		return nil
	}
	return e
}
