package connectors_test

import (
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages"
)

// Batches the pipeline says only wait lend the source a slot each, up to
// MaxWaiting, so it pulls as the fetch stage takes batches; when they are
// busy again the slots come back as messages are settled, and the source
// holds no more than MaxPending again.
func TestJetStreamSourceLendsSlotsForWaitingBatches(t *testing.T) {
	t.Parallel()
	f := newJSFixture(t)
	s, _ := f.sourceWaiting(2, 3)
	for range 10 {
		f.publish(`["http://x"]`, nil)
	}
	held := []*stages.Inbound{next(t, s, 5*time.Second), next(t, s, 5*time.Second)}
	nothingFrom(t, s, 500*time.Millisecond)
	s.SetWaiting(5) // more than MaxWaiting: 3 lent
	for range 3 {
		held = append(held, next(t, s, 5*time.Second))
	}
	nothingFrom(t, s, 500*time.Millisecond)
	if got := f.consumerInfo().NumAckPending; got != 5 {
		t.Errorf("%d pending ack with 3 slots lent, want 5", got)
	}
	s.SetWaiting(0) // every slot taken back: owed, as none is free
	for _, in := range held[:3] {
		_ = in.Settle.Done(true, nil)
	}
	nothingFrom(t, s, 500*time.Millisecond)
	if got := f.consumerInfo().NumAckPending; got != 2 {
		t.Errorf("%d pending ack after the lent slots came back, want MaxPending (2)", got)
	}
	_ = held[3].Settle.Done(true, nil)
	held = append(held[4:], next(t, s, 5*time.Second))
	for _, in := range held {
		_ = in.Settle.Done(true, nil)
	}
}
