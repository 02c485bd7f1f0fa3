package connectors

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/reugn/go-streams"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/tracectx"
)

// PublisherConfig says where a Publisher publishes.
type PublisherConfig struct {
	Results string // subject for each result
	Batches string // subject for each batch summary
	// MsgIDs sets Nats-Msg-Id to "<batch_id>/<index>" on results (and
	// "<batch_id>/summary" on summaries), so a stream on the output subject
	// drops the duplicates of a redelivered batch.
	MsgIDs bool
	// ResultsStream and BatchesStream name the streams that capture Results
	// and Batches, "" for none (see StreamOf). For a batch that has a
	// Settler, what goes to a subject in a stream is published through
	// JetStream and the batch is settled only once the stream has acked it
	// all; what goes elsewhere, once a flush shows the server has it.
	ResultsStream string
	BatchesStream string
	// Changes, if set, also gets each result whose Encoded says Changed,
	// right after it went to Results, with Nats-Msg-Id
	// "<batch_id>/<index>/changed" when MsgIDs is set; ChangesStream
	// names the stream that captures it ("" for none), as ResultsStream.
	Changes       string
	ChangesStream string
	// AckTimeout bounds the wait for one JetStream publish ack; 0 means 10s.
	AckTimeout time.Duration
	// RetryFor bounds how long an output stream that cannot store (it
	// elects a leader, its node is gone, acks do not come) is waited out
	// before the batches waiting on it are handed back (see outbox): at
	// least 1s; 0 means DefaultOutputRetryFor.
	RetryFor time.Duration
	// MaxAckPending caps the JetStream publishes awaiting an ack; past it a
	// publish waits. 0 means 256.
	MaxAckPending int
	// Linger is how long the publisher waits, after publishing what was
	// ready, before it takes what came meanwhile. Under load, results then
	// go out in runs that the NATS client writes in one system call each,
	// instead of one write per result; a result waits at most Linger for
	// it. A result that comes after a pause is published at once. 0 turns
	// it off.
	Linger time.Duration
	// FlushTimeout bounds the flush before a batch is settled; 0 means 5s.
	FlushTimeout time.Duration
	Logger       *slog.Logger
	// Observer, if set, is told of each batch done and each failed publish.
	Observer PublishObserver
	// OnPanic, if set, is told of a panic while publishing (see handle).
	OnPanic stages.OnPanic
	// Encode, if set, is applied to each element first, on the
	// publisher's goroutine: with stages.Encoder.Encode the publisher
	// takes the fetch stage's *stages.Fetched itself, and results reach
	// NATS with two hand-offs between goroutines fewer than through the
	// encode Flow. A panic out of it (Encoder.Encode recovers its own, but
	// not one in its fallback) is recovered as any other: see handle.
	Encode func(element any) any
}

// PublishObserver is told what a Publisher does (for metrics). Its methods
// are called from the publisher's goroutine and must return quickly.
// BatchDone is called before the batch's summary and reply are sent.
type PublishObserver interface {
	BatchDone(s *wire.Summary)
	PublishFailed(subject string)
}

// Publisher is the go-streams Sink at the end of the pipeline. Each
// element goes through PublisherConfig.Encode first, if set. For each
// *stages.Encoded it publishes the result on Results and, for a
// request-reply batch, sends it on (a streamed reply) or keeps a copy for
// the one-message reply, then releases it (stages.Encoded.Release) unless
// a JetStream publish still holds it. For each *stages.Done it counts the
// summary (ok, failed, per error kind) from the results it handled for
// the batch, over the counts the Done came with (see summaryCount),
// encodes it into Done.Data, publishes it on Batches, sends the reply (the
// JSON array of the batch's results in order, or the summary when the
// batch was rejected or the array would not fit in one message), and
// settles the input message once everything is confirmed (stream acks,
// or a flush).
//
// Elements are handled one at a time, in order; settling happens beside
// them, so waiting for acks never holds up the next batch. A batch cut
// short by a shutdown (some results canceled) whose message will be
// delivered again publishes neither its canceled results nor its summary:
// they come with the redelivery. While the client is disconnected and its
// reconnect buffer is full, a publish is held until the connection is back
// or ctx (given to NewPublisher) is done; then it fails. A JetStream
// publish goes through an outbox: while the output stream cannot store
// (an election, a lost node), new publishes are held and the
// unacknowledged ones retried, in order, for up to RetryFor; past it the
// batches are handed back with a delay that grows with their deliveries
// (see outbox, HandBackDelay). A failed publish is logged, and its batch,
// if it has a Settler, is handed back for redelivery rather than acked;
// a rejected batch is dead-lettered with its summary if that was not
// stored. AwaitCompletion returns once its input (In, or the stage
// before's output: see ReadFrom) is closed by the upstream and every
// batch is published and settled.
type Publisher struct {
	ctx      context.Context
	nc       *nats.Conn
	out      *outbox // nil unless an output subject is in a stream
	cfg      PublisherConfig
	in       chan any
	source   chan (<-chan any) // what run reads: In, or the stage before's output (see ReadFrom)
	wired    atomic.Bool       // the source is chosen
	done     chan struct{}
	jobs     map[*stages.Job]*jobOut
	settling sync.WaitGroup
	flushes  flushGroup // flushes before settling, shared by batches settling together
	// replyHeld and replyPeak count the bytes one-message replies hold
	// (see gather), for Stats.
	replyHeld, replyPeak atomic.Int64
	log                  *slog.Logger
	debug                bool     // log each result (checked once: the hot path pays nothing otherwise)
	inDone               *jobOut  // the batch whose Done is being handled, for a panic's recovery (see recover)
	scratch              nats.Msg // a result's message when its publish copies it (see result)
}

// jobOut is what the publisher keeps about a batch between its first
// result and its summary.
type jobOut struct {
	// reply gathers a one-message reply's results while they still fit
	// in one message; once they cannot, it is dropped and replyTooLarge
	// set, and the batch holds nothing more for its reply.
	reply         *bytes.Buffer
	replyTooLarge bool
	acks          *batchAcks // publishes awaiting stream acks; nil if none
	flush         bool       // something went out as core NATS: flush before settling
	failed        int        // publishes that failed outright
	unavailable   int        // publishes not sent: the output stream was unavailable past the retry bound
	summaryCore   bool       // the summary went out as core NATS
	summaryErr    error      // why the summary's publish failed outright
	settles       bool       // the batch has a Settler
	// reconnects is the client's reconnect count at the batch's first
	// publish: a core publish written before a reconnect may have been lost
	// on the wire, and a flush after it cannot tell.
	reconnects uint64
	// count is the summary's counts, from the results handled so far.
	count summaryCount
	// How far the batch's Done got, for a panic's recovery.
	summarySent, replied, settling bool
}

var _ streams.Sink = (*Publisher)(nil)

// NewPublisher validates cfg and starts the sink. ctx bounds how long a
// publish is held while the connection is down.
func NewPublisher(ctx context.Context, nc *nats.Conn, cfg PublisherConfig) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.RetryFor = cmp.Or(cfg.RetryFor, DefaultOutputRetryFor)
	cfg.FlushTimeout = cmp.Or(cfg.FlushTimeout, defaultFlushTimeout)
	cfg.AckTimeout = cmp.Or(cfg.AckTimeout, defaultPublishAckTimeout)
	cfg.MaxAckPending = cmp.Or(cfg.MaxAckPending, defaultPublishMaxAckPending)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Publisher{ctx: ctx, nc: nc, cfg: cfg, in: make(chan any, stages.HandoffBuffer),
		source: make(chan (<-chan any), 1), done: make(chan struct{}),
		jobs: map[*stages.Job]*jobOut{}, log: cfg.Logger, debug: cfg.Logger.Enabled(ctx, slog.LevelDebug)}
	p.flushes.flush = p.flush
	if cfg.ResultsStream != "" || cfg.BatchesStream != "" || cfg.ChangesStream != "" {
		p.out = newOutbox(ctx, cfg.RetryFor, cfg.AckTimeout, cfg.Logger)
		opts := append(p.out.options(),
			jetstream.WithPublishAsyncTimeout(cfg.AckTimeout), jetstream.WithPublishAsyncMaxPending(cfg.MaxAckPending))
		js, err := jetstream.New(nc, opts...)
		if err != nil {
			return nil, err
		}
		p.out.js = js
	}
	go p.run()
	return p, nil
}

// handle publishes one element. A panic while doing so, or in Encode, is
// recovered (see recover): a result goes out as its URL's
// unexpected_error instead (at worst after the one that panicked, if that
// got out), counted so in the summary; a summary's panic still publishes
// the summary and the reply if they were not yet sent and batchDone would
// send them (see holdsBack), and leaves an unsettled batch for redelivery.
// Either way OnPanic is told, and the next element is handled.
func (p *Publisher) handle(element any) {
	p.inDone = nil
	defer func() {
		if v := recover(); v != nil {
			p.recover(element, v)
		}
	}()
	if p.cfg.Encode != nil {
		element = p.cfg.Encode(element)
	}
	switch e := element.(type) {
	case *stages.Encoded:
		p.result(e)
	case *stages.Done:
		p.batchDone(e)
	default:
		p.log.Error("publisher got an element it does not know", "type", fmt.Sprintf("%T", element))
	}
}

func (p *Publisher) jobOut(job *stages.Job) *jobOut {
	jo := p.jobs[job]
	if jo == nil {
		jo = &jobOut{settles: job.Settle != nil, reconnects: p.nc.Stats().Reconnects}
		p.jobs[job] = jo
	}
	return jo
}

// result publishes one result and counts it for the summary, last, so
// that a result whose handling panicked is counted once, as the
// unexpected_error that replaces it (see recover).
func (p *Publisher) result(e *stages.Encoded) {
	job, kind := e.Job, e.Kind // e is not read after its Release
	jo := p.jobOut(job)
	if kind == wire.ErrCanceled && job.Settle != nil && job.Settle.Redeliverable() {
		e.Release()
		jo.count.add(kind) // withheld, with the summary: the batch is not complete
		return             // the batch will come again; its real result will be published then
	}
	// A JetStream publish whose ack the batch waits for keeps msg, and
	// with it Data, until the ack; every other publish copies Data, and
	// leaves msg free for the next result (p.scratch).
	inStream := p.cfg.ResultsStream != ""
	msg := &p.scratch
	if inStream && jo.settles {
		msg = &nats.Msg{}
	}
	*msg = nats.Msg{Subject: p.cfg.Results, Data: e.Data}
	if p.cfg.MsgIDs {
		msg.Header = nats.Header{nats.MsgIdHdr: []string{job.ID + "/" + strconv.Itoa(e.Index)}}
	}
	sc := stages.TraceOf(e)
	msg.Header = tracectx.Inject(msg.Header, sc)
	kept := p.publish(jo, msg, inStream, false)
	if e.Changed && p.cfg.Changes != "" {
		kept = p.publishChange(jo, job, e) || kept
	}
	p.scratch = nats.Msg{} // let go of Data, which goes back to the encoder
	if p.debug {
		p.log.Debug("result", "batch_id", job.ID, "index", e.Index, "error", e.Kind)
	}
	switch {
	case job.Reply == "":
	case job.ReplyStream:
		p.sendReply(&nats.Msg{Subject: job.Reply, Data: e.Data,
			Header: tracectx.Inject(nats.Header{wire.HeaderReplyPart: []string{wire.ReplyPartResult}}, sc)})
	default:
		p.gather(jo, e.Data)
	}
	if !kept {
		e.Release() // Data was copied, into the connection's buffer and any reply
	}
	jo.count.add(kind)
}

// publishChange publishes e's result again on the changes subject: as
// a result is (see result), through JetStream when a stream captures the
// subject and the batch is settled, so the batch is acked only once the
// change is stored. It reports whether a JetStream publish keeps e.Data.
func (p *Publisher) publishChange(jo *jobOut, job *stages.Job, e *stages.Encoded) (kept bool) {
	msg := &nats.Msg{Subject: p.cfg.Changes, Data: e.Data}
	if p.cfg.MsgIDs {
		msg.Header = nats.Header{nats.MsgIdHdr: []string{job.ID + "/" + strconv.Itoa(e.Index) + changedSuffix}}
	}
	return p.publish(jo, msg, p.cfg.ChangesStream != "", false)
}

// batchDone counts and encodes the summary, publishes it, replies, and
// settles the batch.
func (p *Publisher) batchDone(d *stages.Done) {
	job := d.Job
	jo := p.jobOut(job)
	delete(p.jobs, job)
	defer p.dropReply(jo)
	// The batch's span ends once its summary and reply are out (or on a panic).
	defer stages.EndBatchSpan(job, &d.Summary)
	p.inDone = jo // for a panic's recovery, in handle, which clears it
	encodeSummary(jo, d)
	s := d.Summary
	complete := s.Errors[wire.ErrCanceled] == 0
	if holdsBack(job, &s) {
		p.log.Info("batch cut short by shutdown; left for redelivery", "batch_id", s.BatchID, "count", s.Count,
			"canceled", s.Errors[wire.ErrCanceled])
	} else {
		// Counted before it is announced, so that whoever reads the summary
		// or the reply and then asks for stats sees this batch in them.
		if p.cfg.Observer != nil {
			p.cfg.Observer.BatchDone(&s)
		}
		msg := &nats.Msg{Subject: p.cfg.Batches, Data: d.Data}
		if p.cfg.MsgIDs {
			msg.Header = nats.Header{nats.MsgIdHdr: []string{job.ID + "/summary"}}
		}
		msg.Header = tracectx.Inject(msg.Header, job.Trace)
		p.publish(jo, msg, p.cfg.BatchesStream != "", true)
		jo.summarySent = true
		if job.Reply != "" {
			p.reply(d, jo)
		}
		jo.replied = true
		attrs := []any{"batch_id", s.BatchID, "count", s.Count, "ok", s.OK, "failed", s.Failed, "elapsed_ms", s.ElapsedMS}
		if s.Error != "" { // a batch-level error; none on a batch that ran
			attrs = append(attrs, "error", s.Error, "message", s.Message)
		}
		p.log.Info("batch done", attrs...)
	}
	if job.Settle == nil {
		return
	}
	var reject error
	if job.Err != nil {
		reject = job.Err
	}
	if jo.acks != nil {
		p.out.seal(jo.acks)
	}
	p.settling.Add(1)
	jo.settling = true
	go p.settle(job, jo, complete, reject, d.Data)
}
