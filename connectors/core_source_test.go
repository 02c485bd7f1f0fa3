package connectors

import (
	"context"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages"
)

// A send blocked on a busy pipeline holds no lock: once the source is
// closing, a further offer is refused at once instead of queueing behind
// the close, and the blocked one is still emitted before Out closes.
func TestCoreSourceCloseDoesNotBlockOffers(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := NewCoreSource(ctx, nc, CoreSourceConfig{Subject: "in", Queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	blocked := make(chan struct{})
	go func() { // nobody reads Out yet: this send blocks
		defer close(blocked)
		s.offer(&stages.Inbound{HeaderID: "first"})
	}()
	time.Sleep(100 * time.Millisecond) // let it reach the send
	cancel()
	// The close path has nothing to drain on the subscription; it now waits
	// for the blocked send. An offer made meanwhile must not wait with it.
	late := make(chan struct{})
	go func() {
		defer close(late)
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				break
			}
		}
		s.offer(&stages.Inbound{HeaderID: "late"})
	}()
	select {
	case <-late:
	case <-time.After(10 * time.Second):
		t.Fatal("an offer made while the source closes hangs behind a send blocked on the pipeline")
	}
	var got []string
	for element := range s.Out() {
		got = append(got, element.(*stages.Inbound).HeaderID)
	}
	<-blocked
	if len(got) != 1 || got[0] != "first" {
		t.Errorf("emitted %v, want the blocked offer alone", got)
	}
}
