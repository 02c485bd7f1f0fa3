package connectors

import (
	"errors"
	"fmt"
	"time"

	"github.com/fetchstream/fetchstream/stages"
)

// settle waits until the batch's publishes are confirmed (or have
// failed for good), then settles it: complete only if every publish made
// it. It tells the settler why not, and whether its summary is stored,
// so that it can hand the batch back with a delay when the output stream
// was unavailable, and dead-letter a rejected batch with its summary
// when the summary is not stored (see outcome).
func (p *Publisher) settle(job *stages.Job, jo *jobOut, complete bool, reject error, summary []byte) {
	defer p.settling.Done()
	o := outcome{complete: complete, reject: reject, summary: summary, summaryErr: jo.summaryErr}
	failed, unavail := jo.failed, jo.unavailable
	var firstErr error
	if failed+unavail > 0 {
		firstErr = fmt.Errorf("%d publishes failed", failed+unavail)
	}
	if jo.acks != nil {
		<-jo.acks.done // bounded: by the retry bound and the ack timeout, or ctx
		r := p.out.outcome(jo.acks)
		failed += r.failed - r.unavailable
		unavail += r.unavailable
		if r.firstErr != nil {
			firstErr = r.firstErr
		}
		if o.summaryErr == nil {
			o.summaryErr = r.summaryErr
		}
	}
	switch {
	case failed+unavail > 0:
		o.problem = fmt.Errorf("the output did not store %d of the batch's publishes: %w", failed+unavail, firstErr)
		o.later = failed == 0
	case jo.flush:
		if err := p.flushes.do(); err != nil {
			o.problem = fmt.Errorf("flush before settling failed: %w", err)
		} else if p.nc.Stats().Reconnects != jo.reconnects {
			o.problem = errors.New("the client reconnected while the batch was being published; some of it may have been lost on the wire")
		}
		if o.problem != nil && jo.summaryCore && o.summaryErr == nil {
			o.summaryErr = o.problem
		}
	}
	if s, ok := job.Settle.(outcomeSettler); ok {
		_ = s.settleOutcome(o)
		return
	}
	if o.problem != nil {
		p.log.Warn("batch not confirmed; settled as incomplete", "batch_id", job.ID, "err", o.problem)
	}
	if err := job.Settle.Done(complete && o.problem == nil, reject); err != nil {
		p.log.Warn("settling the input message failed", "batch_id", job.ID, "err", err)
	}
}

// flush makes sure the server has every core publish so far, holding
// across a reconnect while ctx allows. Batches settling together share
// flushes through p.flushes.
func (p *Publisher) flush() error {
	var err error
	for range 3 {
		if err = p.nc.FlushTimeout(p.cfg.FlushTimeout); err == nil {
			return nil
		}
		if p.ctx.Err() != nil || waitConnected(p.ctx, p.nc, 50*time.Millisecond) != nil {
			return err
		}
	}
	return err
}
