package connectors

import (
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/tracectx"
)

// recover is handle's recovery from a panic over element: see handle. A
// result's panic came before it was counted (Publisher.result counts
// last), so the unexpected_error that replaces it is what the summary
// counts, once: by result when that gets through, else here. A
// *stages.Fetched is still one when Encode panicked (in the Encoder's
// encoding or in its own fallback): it is replaced the same way.
func (p *Publisher) recover(element, v any) {
	switch e := element.(type) {
	case *stages.Encoded:
		if e != nil {
			p.replaceResult(e.Job, e.Index, v, "publishing the result")
			return
		}
	case *stages.Fetched:
		if e != nil {
			p.replaceResult(e.Job, e.Result.Index, v, "encoding the result")
			return
		}
	case *stages.Done:
		p.recoverDone(e, v, false)
		return
	}
	p.cfg.OnPanic.Tell(stages.Panic{Stage: "publish", Index: -1, Value: v})
}

// replaceResult publishes, in place of result index of job whose handling
// panicked with v while doing, that URL's unexpected_error, and counts it
// for the summary once.
func (p *Publisher) replaceResult(job *stages.Job, index int, v any, doing string) {
	panicked := stages.Panic{Stage: "publish", Index: index, Value: v}
	if job == nil {
		p.cfg.OnPanic.Tell(panicked)
		return
	}
	panicked.BatchID = job.ID
	if index >= 0 && index < len(job.Requests) {
		panicked.URL = job.Requests[index].URL
	}
	p.cfg.OnPanic.Tell(panicked)
	jo := p.jobOut(job)
	enc := stages.EncodePanic(job, &wire.Result{BatchID: job.ID, CorrelationID: job.CorrelationID, Index: index,
		Count: len(job.Requests), URL: panicked.URL}, doing, v, p.maxResultBytes())
	counted := jo.count.results()
	p.safely(jo, func() { p.result(enc) })
	if jo.count.results() == counted { // the replacement panicked too
		jo.count.add(enc.Kind)
	}
}

// recoverDone finishes what batchDone began for d, after a panic v: it
// publishes the summary and sends the reply if they were not yet sent,
// under batchDone's rule (holdsBack: a batch cut short that will be
// delivered again sends neither now), and hands a batch not yet settling
// back for redelivery. A panic before batchDone began (in Encode) begins
// it now, once (again says this is that second try).
func (p *Publisher) recoverDone(d *stages.Done, v any, again bool) {
	jo := p.inDone
	p.inDone = nil
	p.cfg.OnPanic.Tell(stages.Panic{Stage: "publish", BatchID: d.Job.ID, Index: -1, Value: v})
	if jo == nil {
		if !again {
			func() {
				defer func() {
					if v := recover(); v != nil {
						p.recoverDone(d, v, true)
					}
				}()
				p.batchDone(d)
			}()
		}
		return
	}
	job := d.Job
	if d.Data == nil { // batchDone counts and encodes first; this is in case that panicked
		encodeSummary(jo, d)
	}
	held := false // if asking panics, publish: the batch is handed back either way
	func() {
		defer func() { _ = recover() }()
		held = holdsBack(job, &d.Summary)
	}()
	if !jo.summarySent && !held {
		jo.summarySent = true
		p.safely(jo, func() {
			p.publish(jo, &nats.Msg{Subject: p.cfg.Batches, Data: d.Data, Header: tracectx.Inject(nil, d.Job.Trace)}, false, true)
		})
	}
	if job.Reply != "" && !jo.replied && !held {
		jo.replied = true
		p.safely(jo, func() { p.reply(d, jo) })
	}
	if job.Settle != nil && !jo.settling {
		jo.settling = true
		p.settling.Add(1)
		go func() {
			defer p.settling.Done()
			_ = job.Settle.Done(false, nil) // handed back, not acked: it was not seen through
		}()
	}
}

// maxResultBytes bounds a replacement result's JSON: the connection's
// max payload less 1 KiB of headroom for headers, at least 1024 bytes, so
// that it always fits one NATS message.
func (p *Publisher) maxResultBytes() int {
	return max(int(p.nc.MaxPayload())-1024, 1024)
}

// encodeSummary counts jo's results into d's summary and encodes it into
// d.Data (a Summary always encodes).
func encodeSummary(jo *jobOut, d *stages.Done) {
	jo.count.into(&d.Summary)
	d.Data, _ = json.Marshal(&d.Summary)
}

// holdsBack says whether batchDone withholds the summary and the reply of
// job, whose counts s holds: the batch was cut short by a shutdown (some
// results canceled) and its message will be delivered again, when they
// are sent.
func holdsBack(job *stages.Job, s *wire.Summary) bool {
	return s.Errors[wire.ErrCanceled] != 0 && job.Settle != nil && job.Settle.Redeliverable()
}

// safely runs fn, counting a second panic as a failed publish of jo.
func (p *Publisher) safely(jo *jobOut, fn func()) {
	defer func() {
		if v := recover(); v != nil {
			jo.failed++
			p.log.Error("publishing after a panic panicked again", "panic", fmt.Sprint(v))
		}
	}()
	fn()
}
