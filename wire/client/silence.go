package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/wire"
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
	// Held: the stream was asked and holds the first batch not ended.
	Held bool
	// Taken: a consumer of the stream has delivered that batch to a
	// service, which fetches it or died holding it (then JetStream
	// delivers it again after AckWait). Held and not Taken: it waits in
	// the stream for a service to take it.
	Taken bool
	// AckWait, when Taken, is the AckWait of the consumer that delivered
	// the batch; 0 otherwise, or when it could not be told.
	AckWait time.Duration
	// Left is the time until the wait timeout; 0 when the wait has none.
	Left time.Duration
}

// silenceLookup bounds the look-up of the stream and its consumers for a
// Silence.
const silenceLookup = time.Second

// silence describes the wait after quiet of d. In JetStream mode it asks
// the stream for the batches not ended; gone lists those it no longer
// holds (their end was missed, or is on its way).
func (s *Stream) silence(ctx context.Context, d time.Duration) (out Silence, gone []int) {
	out = Silence{For: d, Done: s.done(), Batches: len(s.parts), First: s.parts[0].batch.ID,
		Reconnecting: s.c.nc.Status() == nats.RECONNECTING}
	if s.c.wait > 0 {
		out.Left = max(0, time.Until(s.start.Add(s.c.wait)))
	}
	out.Stream, _ = s.c.inputStream(ctx) // known since the publish
	if out.Stream == "" || out.Reconnecting {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, silenceLookup)
	defer cancel()
	stream, err := s.c.js.Stream(ctx, out.Stream)
	if err != nil {
		return out, nil
	}
	var first uint64 // the sequence of the first batch not ended that the stream holds
	for k, p := range s.parts {
		if p.seq == 0 || s.summary(k) != nil {
			continue
		}
		_, err := stream.GetMsg(ctx, p.seq)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			gone = append(gone, k)
		case err == nil && first == 0:
			first = p.seq
			out.First = p.batch.ID
		}
	}
	if first == 0 {
		return out, gone
	}
	out.Held = true
	list := stream.ListConsumers(ctx)
	for info := range list.Info() {
		if info.Delivered.Stream >= first && !out.Taken {
			out.Taken, out.AckWait = true, info.Config.AckWait
		}
	}
	return out, gone
}

// leftStream is the error of the batches (parts gone) that left the
// stream without their end reaching this wait, or nil when every one has
// ended since.
func (s *Stream) leftStream(gone []int) error {
	var ids []string
	for _, k := range gone {
		if s.summary(k) == nil {
			ids = append(ids, s.parts[k].batch.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	what := "batch " + ids[0] + " has"
	if len(ids) > 1 {
		what = fmt.Sprintf("batches %s have", strings.Join(ids, ", "))
	}
	where := "the batches subject (`fetchstream watch` shows the next ones)"
	if s.c.batches != "" {
		where = fmt.Sprintf("the batches subject %s (`fetchstream watch` shows the next ones)", s.c.batches)
	}
	stream, _ := s.c.inputStream(context.Background())
	return fmt.Errorf("%w: %s left stream %s (most likely its end passed while the connection to NATS was down): its summary went to %s and to the results stream if the service stores results in one; a batch dead-lettered went to the dead-letter subject (%s by default)",
		ErrLeftStream, what, stream, where, wire.DefaultDeadLetterSubject)
}
