package client

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
)

// Silence is what a wait is on when nothing of its batches has come for a
// while (see WithSilenceNotice): enough for a tool to say why it waits,
// and how long it will.
type Silence struct {
	For           time.Duration // since the publish or the wait's last message
	Done, Batches int           // batches ended, of all
	First         string        // the first batch's id
	// Reconnecting: the NATS connection is down and nats.go is
	// reconnecting; what the service published meanwhile may be lost.
	Reconnecting bool
	// Stream is the JetStream stream that stores the batches, "" in core
	// mode (then the service that took them serves them, or they are lost
	// with it).
	Stream string
	// AckWait, in JetStream mode, is the AckWait of a consumer holding
	// batches delivered and not yet acknowledged: if the service that
	// holds them died, JetStream delivers them again after it. 0 when no
	// consumer holds one, or it could not be told.
	AckWait time.Duration
	// Left is the time until the wait timeout; 0 when the wait has none.
	Left time.Duration
}

// silenceLookup bounds the look-up of the consumers for a Silence.
const silenceLookup = time.Second

// silence describes the wait after quiet of d.
func (s *Stream) silence(ctx context.Context, d time.Duration) Silence {
	out := Silence{For: d, Done: s.done(), Batches: len(s.parts), First: s.parts[0].batch.ID,
		Reconnecting: s.c.nc.Status() == nats.RECONNECTING}
	if s.c.wait > 0 {
		out.Left = max(0, time.Until(s.start.Add(s.c.wait)))
	}
	out.Stream, _ = s.c.inputStream(ctx) // known since the publish
	if out.Stream == "" || out.Reconnecting {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, silenceLookup)
	defer cancel()
	stream, err := s.c.js.Stream(ctx, out.Stream)
	if err != nil {
		return out
	}
	list := stream.ListConsumers(ctx)
	for info := range list.Info() {
		if info.NumAckPending > 0 && out.AckWait == 0 {
			out.AckWait = info.Config.AckWait
		}
	}
	return out
}
