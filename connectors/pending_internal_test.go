package connectors

import (
	"context"
	"testing"

	"github.com/fetchstream/fetchstream/connectors/natstest"
)

// A pending limit left at 0 is the default (DefaultPendingBatches,
// DefaultPendingBytes), the service's own, not nats.go's (500,000
// messages); one that is set is kept.
func TestPendingLimitsZeroIsTheDefault(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	for _, tc := range []struct {
		msgs, bytes         int
		wantMsgs, wantBytes int
	}{
		{0, 0, DefaultPendingBatches, DefaultPendingBytes},
		{3, 0, 3, DefaultPendingBytes},
		{0, 4096, DefaultPendingBatches, 4096},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := NewCoreSource(ctx, nc, CoreSourceConfig{Subject: "in", Queue: "q", PendingMsgs: tc.msgs, PendingBytes: tc.bytes})
		if err != nil {
			t.Fatal(err)
		}
		msgs, bytes, err := s.sub.PendingLimits()
		if err != nil || msgs != tc.wantMsgs || bytes != tc.wantBytes {
			t.Errorf("PendingMsgs %d, PendingBytes %d: the subscription keeps %d, %d (%v); want %d, %d",
				tc.msgs, tc.bytes, msgs, bytes, err, tc.wantMsgs, tc.wantBytes)
		}
		cancel()
		for range s.Out() {
		}
	}
}
