package connectors

import (
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
)

// recover is handle's recovery from a panic over element: see handle. A
// result's panic came before it was counted (Publisher.result counts
// last), so the unexpected_error that replaces it is what the summary
// counts, once: by result when that gets through, else here.
func (p *Publisher) recover(element, v any) {
	switch e := element.(type) {
	case *stages.Encoded:
		job := e.Job
		panicked := stages.Panic{Stage: "publish", Index: e.Index, Value: v}
		if job == nil {
			p.cfg.OnPanic.Tell(panicked)
			return
		}
		panicked.BatchID = job.ID
		if e.Index >= 0 && e.Index < len(job.Requests) {
			panicked.URL = job.Requests[e.Index].URL
		}
		p.cfg.OnPanic.Tell(panicked)
		jo := p.jobOut(job)
		r := wire.Result{BatchID: job.ID, CorrelationID: job.CorrelationID, Index: e.Index, Count: len(job.Requests),
			URL: panicked.URL, Error: wire.ErrUnexpected, Message: stages.PanicMessage("publishing the result", v)}
		if len(r.URL) > 1024 {
			r.URL, r.URLTruncated = r.URL[:1024], true
		}
		data, _ := json.Marshal(&r)
		counted := jo.count.results()
		p.safely(jo, func() { p.result(&stages.Encoded{Job: job, Index: e.Index, Kind: r.Error, Data: data}) })
		if jo.count.results() == counted { // the replacement panicked too
			jo.count.add(r.Error)
		}
	case *stages.Done:
		jo := p.inDone
		p.inDone = nil
		p.cfg.OnPanic.Tell(stages.Panic{Stage: "publish", BatchID: e.Job.ID, Index: -1, Value: v})
		if jo == nil {
			return
		}
		job := e.Job
		if e.Data == nil { // batchDone counts and encodes first; this is in case that panicked
			jo.count.into(&e.Summary)
			e.Data, _ = json.Marshal(&e.Summary)
		}
		if !jo.summarySent {
			jo.summarySent = true
			p.safely(jo, func() { p.publish(jo, &nats.Msg{Subject: p.cfg.Batches, Data: e.Data}, false, true) })
		}
		if job.Reply != "" && !jo.replied {
			jo.replied = true
			p.safely(jo, func() { p.reply(e, jo) })
		}
		if job.Settle != nil && !jo.settling {
			jo.settling = true
			p.settling.Add(1)
			go func() {
				defer p.settling.Done()
				_ = job.Settle.Done(false, nil) // handed back, not acked: it was not seen through
			}()
		}
	default:
		p.cfg.OnPanic.Tell(stages.Panic{Stage: "publish", Index: -1, Value: v})
	}
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
