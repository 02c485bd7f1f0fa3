package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/reugn/go-streams"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
)

// PublisherConfig says where a Publisher publishes.
type PublisherConfig struct {
	Results string // subject for each result
	Batches string // subject for each batch summary
	// MsgIDs sets Nats-Msg-Id to "<batch_id>/<index>" on results (and
	// "<batch_id>/summary" on summaries), so a stream on the output subject
	// drops the duplicates of a redelivered batch.
	MsgIDs bool
	// FlushTimeout bounds the flush before a batch is settled.
	FlushTimeout time.Duration
	Logger       *slog.Logger
	// Observer, if set, is told of each batch done and each failed publish.
	Observer PublishObserver
}

// PublishObserver is told what a Publisher does (for metrics). Its methods
// are called from the publisher's goroutine and must return quickly.
type PublishObserver interface {
	BatchDone(s *wire.Summary)
	PublishFailed(subject string)
}

// Publisher is the go-streams Sink at the end of the pipeline. For each
// *stages.Encoded it publishes the result on Results and, for a
// request-reply batch, keeps it for the reply. For each *stages.Done it
// publishes the summary on Batches, sends the reply (the JSON array of the
// batch's results in order, or the summary when the batch was rejected or
// the array would not fit in one message), flushes when the batch must be
// settled, and settles it. Elements are handled one at a time, in order.
// A failed publish is logged and counted, never fatal. AwaitCompletion
// returns once In is closed (by the upstream) and everything is handled.
type Publisher struct {
	nc      *nats.Conn
	cfg     PublisherConfig
	in      chan any
	done    chan struct{}
	replies map[*stages.Job]*bytes.Buffer
	log     *slog.Logger
	debug   bool // log each result (checked once: the hot path pays nothing otherwise)
}

var _ streams.Sink = (*Publisher)(nil)

// NewPublisher validates cfg and starts the sink.
func NewPublisher(nc *nats.Conn, cfg PublisherConfig) (*Publisher, error) {
	if cfg.Results == "" || cfg.Batches == "" {
		return nil, fmt.Errorf("%w: results and batches subjects are required", ErrConfig)
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Publisher{nc: nc, cfg: cfg, in: make(chan any), done: make(chan struct{}),
		replies: map[*stages.Job]*bytes.Buffer{}, log: cfg.Logger,
		debug: cfg.Logger.Enabled(context.Background(), slog.LevelDebug)}
	go p.run()
	return p, nil
}

// In returns the input channel; the upstream closes it.
func (p *Publisher) In() chan<- any { return p.in }

// AwaitCompletion blocks until In is closed and all is published.
func (p *Publisher) AwaitCompletion() { <-p.done }

func (p *Publisher) run() {
	defer close(p.done)
	for element := range p.in {
		switch e := element.(type) {
		case *stages.Encoded:
			p.result(e)
		case *stages.Done:
			p.batchDone(e)
		default:
			p.log.Error("publisher got an element it does not know", "type", fmt.Sprintf("%T", element))
		}
	}
}

func (p *Publisher) result(e *stages.Encoded) {
	job := e.Job
	if e.Kind == wire.ErrCanceled && job.Settle != nil && job.Settle.Redeliverable() {
		return // the batch will come again; its real result will be published then
	}
	msg := &nats.Msg{Subject: p.cfg.Results, Data: e.Data}
	if p.cfg.MsgIDs {
		msg.Header = nats.Header{nats.MsgIdHdr: []string{job.ID + "/" + strconv.Itoa(e.Index)}}
	}
	p.publish(msg)
	if p.debug {
		p.log.Debug("result", "batch_id", job.ID, "index", e.Index, "error", e.Kind)
	}
	if job.Reply == "" {
		return
	}
	buf := p.replies[job]
	if buf == nil {
		buf = &bytes.Buffer{}
		buf.WriteByte('[')
		p.replies[job] = buf
	} else {
		buf.WriteByte(',')
	}
	buf.Write(e.Data)
}

func (p *Publisher) batchDone(d *stages.Done) {
	job := d.Job
	msg := &nats.Msg{Subject: p.cfg.Batches, Data: d.Data}
	if p.cfg.MsgIDs {
		msg.Header = nats.Header{nats.MsgIdHdr: []string{job.ID + "/summary"}}
	}
	p.publish(msg)
	if job.Reply != "" {
		p.reply(d)
	}
	s := d.Summary
	if p.cfg.Observer != nil {
		p.cfg.Observer.BatchDone(&s)
	}
	p.log.Info("batch done", "batch_id", s.BatchID, "count", s.Count, "ok", s.OK, "failed", s.Failed,
		"elapsed_ms", s.ElapsedMS, "error", s.Error)
	if job.Settle == nil {
		return
	}
	if err := p.nc.FlushTimeout(p.cfg.FlushTimeout); err != nil {
		p.log.Warn("flush before settling failed; the batch may be redelivered", "batch_id", s.BatchID, "err", err)
		return
	}
	complete := s.Errors[wire.ErrCanceled] == 0
	var reject error
	if s.Error != "" {
		reject = fmt.Errorf("%s: %s", s.Error, s.Message)
	}
	if err := job.Settle.Done(complete, reject); err != nil {
		p.log.Warn("settling the input message failed", "batch_id", s.BatchID, "err", err)
	}
}

// reply answers a request-reply batch with its results, or with the
// summary when there are none or they would not fit in one message.
func (p *Publisher) reply(d *stages.Done) {
	job := d.Job
	buf := p.replies[job]
	delete(p.replies, job)
	data := d.Data
	switch {
	case buf == nil:
	case int64(buf.Len()+1) > p.nc.MaxPayload():
		s := d.Summary
		s.Error, s.Message = wire.ErrReplyTooLarge, fmt.Sprintf(
			"the %d results do not fit in one %d-byte message; read them on %s", s.Count, p.nc.MaxPayload(), p.cfg.Results)
		data, _ = json.Marshal(&s)
	default:
		buf.WriteByte(']')
		data = buf.Bytes()
	}
	p.publish(&nats.Msg{Subject: job.Reply, Data: data})
}

func (p *Publisher) publish(msg *nats.Msg) {
	if err := p.nc.PublishMsg(msg); err != nil {
		if p.cfg.Observer != nil {
			p.cfg.Observer.PublishFailed(msg.Subject)
		}
		p.log.Error("publish failed", "subject", msg.Subject, "bytes", len(msg.Data), "err", err)
	}
}
