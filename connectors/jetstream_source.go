package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/reugn/go-streams"
	"github.com/reugn/go-streams/flow"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/wire"
)

// JetStreamSourceConfig says which durable consumer a JetStreamSource
// reads and how much it holds at once.
type JetStreamSourceConfig struct {
	ConsumerSetup
	// MaxPending caps the messages this source holds unsettled (delivered
	// and not yet acked, nak'ed or terminated). It pulls only while below
	// it, and never more than the room left, so a replica takes no batch it
	// cannot start soon, and no batch waits in its buffers unseen. A slot
	// is free again once the message is settled: its ack, nak or terminate
	// sent (or, when dead-lettering fails on its last delivery, left to
	// the server, which will not deliver it again). The server
	// takes acks and pull requests on separate queues, so its ack-pending
	// count may briefly show a replica holding more: those it has acked
	// and the server has not yet counted. Size it to the fetch stage's
	// MaxActive plus a little.
	MaxPending int
	// MaxWaiting is the most slots SetWaiting may lend on top of
	// MaxPending, for batches the pipeline holds only waiting; 0 means none.
	MaxWaiting int
	// PollWait bounds one pull request; 0 means 5s. An idle replica sends
	// one request per PollWait.
	PollWait time.Duration
	// DeadLetter receives rejected batches and those delivered MaxDeliver
	// times. Required.
	DeadLetter *DeadLetter
	Logger     *slog.Logger
	// Replies decides where a batch's reply (its Fetch-Reply-To) may go;
	// nil: the inboxes of DefaultReplySubjects alone (see ReplyPolicy).
	Replies *ReplyPolicy
}

// JetStreamSource is a go-streams Source of *stages.Inbound from a durable
// JetStream pull consumer shared by all replicas (at-least-once: a batch is
// acked only once its results are published; a batch held by a process
// that dies is delivered again after the consumer's AckWait).
//
// Each Inbound carries a Settler: the sink acks the message when the batch
// is complete, naks it (for redelivery at once) when a shutdown cut it
// short, naks it with a growing delay (HandBackDelay) when its output
// stream stayed unavailable past the publisher's retry bound, and, when
// the batch is rejected, publishes it on the dead-letter subject (with
// its summary) and terminates it. A message delivered for the MaxDeliver-th
// time is emitted with Reject set (wire.ErrMaxDeliver): the pipeline does
// not fetch it but publishes its summary, and the sink's settling
// dead-letters it; so a batch that kills its worker is fetched at most
// MaxDeliver-1 times, and its client still learns how it ended. No
// dead-letter publish runs in the pull loop: a stalled one holds only its
// own message's slot.
// While a message is held, the source tells the server it is in progress
// every third of the AckWait, so a long batch is not redelivered.
//
// Messages are emitted in the order they are delivered. When ctx is
// canceled the source drains: it pulls no more, naks those it has not yet
// emitted, closes Out, and keeps the emitted ones alive until they are
// settled. JetStreamSource closes Out; the caller must not.
type JetStreamSource struct {
	nc         *nats.Conn
	cons       jetstream.Consumer
	cfg        JetStreamSourceConfig
	log        *slog.Logger
	out        chan any
	slots      chan struct{} // a token per message that may still be held
	waitMu     sync.Mutex
	waiting    waitingCredit // slots lent for waiting batches (see SetWaiting)
	redelivery time.Duration // the consumer's wait before it redelivers
	maxDeliver int           // the consumer's; <= 0 means unlimited

	mu         sync.Mutex
	held       map[*jsSettler]struct{}
	intakeDone bool
	idle       chan struct{} // closed once the intake is done and nothing is held
	pollCancel context.CancelFunc

	// offers guards out against the micro endpoint's sends (offer): the
	// intake closes stopOffers, which ends a blocked offer, then takes
	// the write lock to close out.
	offers     sync.RWMutex
	outClosed  bool
	stopOffers chan struct{}

	draining  atomic.Bool
	lastErr   atomic.Pointer[error]
	acked     atomic.Int64
	nakked    atomic.Int64
	deadCount atomic.Int64
	scheduled atomic.Int64 // batches published by a message schedule (see JetStreamStats.Scheduled)
}

var (
	_ streams.Source = (*JetStreamSource)(nil)
	_ Readiness      = (*JetStreamSource)(nil)
)

// NewJetStreamSource validates cfg, finds or creates the stream and the
// durable consumer (see ConsumerSetup), and starts pulling.
func NewJetStreamSource(ctx context.Context, nc *nats.Conn, cfg JetStreamSourceConfig) (*JetStreamSource, error) {
	if err := cfg.ConsumerSetup.Validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.MaxPending < 1:
		return nil, configError("MaxPending", "must be at least 1, got %d", cfg.MaxPending)
	case cfg.MaxWaiting < 0:
		return nil, configError("MaxWaiting", "must not be negative, got %d", cfg.MaxWaiting)
	case cfg.DeadLetter == nil:
		return nil, configError("DeadLetter", "must not be nil")
	case cfg.PollWait < 0:
		return nil, configError("PollWait", "must not be negative (0 means the default, 5s), got %s", cfg.PollWait)
	}
	if cfg.PollWait == 0 {
		cfg.PollWait = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	setupCtx, cancel := context.WithTimeout(ctx, cfg.setupTimeout())
	defer cancel()
	cons, info, err := ensureConsumerRetrying(setupCtx, js, cfg.ConsumerSetup, cfg.Logger)
	if err != nil {
		return nil, err
	}
	s := &JetStreamSource{
		nc: nc, cons: cons, cfg: cfg, log: cfg.Logger,
		out:        make(chan any),
		slots:      make(chan struct{}, cfg.MaxPending+cfg.MaxWaiting),
		redelivery: redeliveryWait(info.Config),
		maxDeliver: info.Config.MaxDeliver,
		held:       map[*jsSettler]struct{}{},
		idle:       make(chan struct{}),
		stopOffers: make(chan struct{}),
	}
	for range cfg.MaxPending {
		s.slots <- struct{}{}
	}
	reconnected := nc.StatusChanged(nats.CONNECTED)
	go s.cancelPollOnReconnect(reconnected)
	go s.heartbeat()
	go func() {
		s.intake(ctx)
		nc.RemoveStatusListener(reconnected)
	}()
	s.log.Info("consuming from JetStream", "stream", cfg.Stream, "durable", cfg.Durable,
		"ack_wait", info.Config.AckWait, "max_deliver", s.maxDeliver, "max_pending", cfg.MaxPending,
		"dead_letter", cfg.DeadLetter.Subject())
	return s, nil
}

func (s *JetStreamSource) input() string { return s.cfg.Subject }

// Out returns the output channel, closed by the source.
func (s *JetStreamSource) Out() <-chan any { return s.out }

// Via streams the output to next, closing next's input after the last
// element (go-streams' flow.DoStream), and returns next.
func (s *JetStreamSource) Via(next streams.Flow) streams.Flow {
	flow.DoStream(s, next)
	return next
}

// Ready returns nil while the connection is up, the source is pulling and
// the last pull did not fail.
func (s *JetStreamSource) Ready() error {
	if err := connReady(s.nc); err != nil {
		return err
	}
	if s.draining.Load() {
		return fmt.Errorf("%w: draining for shutdown", ErrNotReady)
	}
	if errp := s.lastErr.Load(); errp != nil {
		return fmt.Errorf("%w: pulling from consumer %s: %v", ErrNotReady, s.cfg.Durable, *errp)
	}
	return nil
}

// JetStreamStats counts what a JetStreamSource did with its messages.
type JetStreamStats struct {
	Held         int   // delivered and not yet settled, now
	Acked        int64 // batches completed
	Nakked       int64 // batches handed back for redelivery (shutdown, failed publish)
	DeadLettered int64 // batches sent to the dead-letter subject
	// Scheduled counts the batches a NATS message schedule published into
	// the input (they carry wire.HeaderScheduler), at their first delivery.
	Scheduled int64
}

// Stats returns the counts so far.
func (s *JetStreamSource) Stats() JetStreamStats {
	s.mu.Lock()
	held := len(s.held)
	s.mu.Unlock()
	return JetStreamStats{Held: held, Acked: s.acked.Load(), Nakked: s.nakked.Load(), DeadLettered: s.deadCount.Load(),
		Scheduled: s.scheduled.Load()}
}

// Settled is closed once the source has stopped pulling and every message
// it took is settled.
func (s *JetStreamSource) Settled() <-chan struct{} { return s.idle }

// intake pulls while there is room, until ctx is canceled or the
// connection is closed for good, then closes Out.
func (s *JetStreamSource) intake(ctx context.Context) {
	defer s.finishIntake()
	pause := newPauses(100*time.Millisecond, 5*time.Second)
	for ctx.Err() == nil && !s.nc.IsClosed() {
		n, ok := s.acquire(ctx)
		if !ok {
			return
		}
		err := s.poll(ctx, n)
		if err == nil {
			s.lastErr.Store(nil)
			pause.reset()
			continue
		}
		if prev := s.lastErr.Swap(&err); prev == nil || (*prev).Error() != err.Error() {
			s.log.Warn("pulling batches from JetStream failed; retrying", "stream", s.cfg.Stream,
				"durable", s.cfg.Durable, "err", err)
		}
		pause.sleep(ctx)
	}
}

// acquire takes one slot, waiting for it, and then all others free now.
func (s *JetStreamSource) acquire(ctx context.Context) (int, bool) {
	select {
	case <-s.slots:
	case <-ctx.Done():
		return 0, false
	}
	n := 1
	for {
		select {
		case <-s.slots:
			n++
		default:
			return n, true
		}
	}
}

func (s *JetStreamSource) release(n int) {
	for range s.repay(n) {
		s.slots <- struct{}{}
	}
}

// poll sends one pull request for n messages and emits what it brings.
func (s *JetStreamSource) poll(ctx context.Context, n int) error {
	pollCtx, cancel := context.WithTimeout(ctx, s.cfg.PollWait)
	defer cancel()
	s.mu.Lock()
	s.pollCancel = cancel
	s.mu.Unlock()
	batch, err := s.cons.Fetch(n, jetstream.FetchContext(pollCtx))
	if err != nil {
		s.release(n)
		return err
	}
	got := 0
	for msg := range batch.Messages() {
		got++
		s.receive(ctx, msg)
	}
	s.release(n - got)
	err = batch.Error()
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return nil // the poll ran out, the client reconnected, or we are shutting down
	}
	return err
}

// receive holds msg and emits it, or dead-letters it when this is its
// last delivery, or hands it back when the source is draining.
func (s *JetStreamSource) receive(ctx context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		s.log.Error("a message from the consumer has no JetStream metadata; terminating it", "err", err)
		_ = msg.Term()
		s.release(1)
		return
	}
	st := &jsSettler{src: s, msg: msg, meta: meta}
	s.mu.Lock()
	s.held[st] = struct{}{}
	s.mu.Unlock()
	in := inbound(msg.Data(), msg.Headers(), "", s.cfg.Replies, s.cfg.Subject)
	in.Subject = msg.Subject() // the subject it was published on, as the stream keeps it
	if in.HeaderID == "" {
		// Stable across redeliveries, unlike an id made up by the decoder,
		// so results can be deduplicated on (batch_id, index).
		in.HeaderID = fmt.Sprintf("%s-%d", meta.Stream, meta.Sequence.Stream)
	}
	in.Received, in.Settle = time.Now(), st
	if meta.NumDelivered == 1 && msg.Headers().Get(wire.HeaderScheduler) != "" {
		s.scheduled.Add(1)
	}
	if s.maxDeliver > 0 && meta.NumDelivered >= uint64(s.maxDeliver) && in.Reject == nil {
		// Not fetched: the pipeline gives it a summary, and settling it as
		// rejected dead-letters it, beside the intake rather than in it.
		in.Reject = &stages.BatchError{Kind: wire.ErrMaxDeliver, Message: fmt.Sprintf(
			"delivered %d times (max deliver %d) without being completed: each earlier delivery ended unfinished (its replica died or shut down, or its results could not be stored within --output-retry-for)",
			meta.NumDelivered, s.maxDeliver)}
	}
	select {
	case s.out <- in:
	case <-ctx.Done():
		if in.Reject != nil {
			_ = st.Done(false, in.Reject) // its last delivery: no replica will get it again
			return
		}
		_ = st.Done(false, nil) // not started: hand it back for another replica
	}
}

func (s *JetStreamSource) finishIntake() {
	s.draining.Store(true)
	close(s.stopOffers)
	s.offers.Lock()
	s.outClosed = true
	close(s.out)
	s.offers.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.intakeDone = true
	if len(s.held) == 0 {
		close(s.idle)
	}
}

// offer emits a batch that came outside the stream (a micro request:
// nothing to settle), blocking while the pipeline is busy; it returns
// false once the intake has stopped.
func (s *JetStreamSource) offer(in *stages.Inbound) bool {
	s.offers.RLock()
	defer s.offers.RUnlock()
	if s.outClosed {
		return false
	}
	select {
	case s.out <- in:
		return true
	case <-s.stopOffers:
		return false
	}
}

// unhold forgets a settled message and frees its slot.
func (s *JetStreamSource) unhold(st *jsSettler) {
	s.mu.Lock()
	delete(s.held, st)
	if s.intakeDone && len(s.held) == 0 {
		close(s.idle)
	}
	s.mu.Unlock()
	s.release(1)
}
