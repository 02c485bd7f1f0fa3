package connectors

// The JetStreamSource's two watchers, each on a goroutine of its own from
// NewJetStreamSource: one keeps the messages it holds from being
// redelivered, the other keeps its pull request alive across reconnects.

import (
	"time"

	"github.com/nats-io/nats.go"
)

// heartbeat tells the server, every third of its redelivery wait, that
// each held message is still in progress, until the source is settled.
func (s *JetStreamSource) heartbeat() {
	t := time.NewTicker(max(s.redelivery/3, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.idle:
			return
		case <-t.C:
		}
		s.mu.Lock()
		held := make([]*jsSettler, 0, len(s.held))
		for st := range s.held {
			held = append(held, st)
		}
		s.mu.Unlock()
		for _, st := range held {
			st.inProgress()
		}
	}
}

// cancelPollOnReconnect ends the pull request in flight when the client
// reconnects: the server it went to may have forgotten it.
func (s *JetStreamSource) cancelPollOnReconnect(events <-chan nats.Status) {
	for range events {
		s.mu.Lock()
		if s.pollCancel != nil {
			s.pollCancel()
		}
		s.mu.Unlock()
	}
}
