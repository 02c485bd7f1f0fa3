package httpfetch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/stages/hostsignal"
	"github.com/fetchstream/fetchstream/wire"
)

// A request whose context its scheduler ended with a *hostsignal.Ended
// (its batch's lifetime) says so, with that kind and message, before its
// own timeout; one that outlives its own timeout says that, as before;
// one that finished first keeps its result.
func TestEndedCauseNamesWhyTheRequestEnded(t *testing.T) {
	h := fetchtest.NewHostile(t)
	f := newTestFetcher(t, Config{Policy: loopbackOnly})
	ended := &hostsignal.Ended{Kind: wire.ErrTimeout, Message: "the batch's lifetime ran out"}

	ctx, cancel := context.WithDeadlineCause(t.Context(), time.Now().Add(300*time.Millisecond), ended)
	defer cancel()
	if r := f.Fetch(ctx, h.URL("/hang"), time.Minute); r.Error != wire.ErrTimeout || r.Message != ended.Message {
		t.Errorf("ended by its scheduler: %q %q, want timeout %q", r.Error, r.Message, ended.Message)
	}

	ctx, cancel = context.WithDeadlineCause(t.Context(), time.Now().Add(time.Minute), ended)
	defer cancel()
	if r := f.Fetch(ctx, h.URL("/hang"), 300*time.Millisecond); r.Error != wire.ErrTimeout || !strings.Contains(r.Message, "no complete response within") {
		t.Errorf("its own timeout: %q %q, want the attempt's timeout", r.Error, r.Message)
	}

	ctx, stop := context.WithCancelCause(t.Context())
	stop(ended)
	if r := f.Fetch(ctx, h.URL("/hang"), time.Minute); r.Error != wire.ErrTimeout || r.Message != ended.Message {
		t.Errorf("ended before it started: %q %q, want timeout %q", r.Error, r.Message, ended.Message)
	}
}
