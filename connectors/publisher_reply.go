package connectors

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/tracectx"
)

// gather appends a result to the batch's one-message reply while the
// reply, closed with ']', still fits in one message with the headers
// reply adds (within ResultHeaderBytes of the max payload). Once it cannot, the
// reply is settled as too large and what it held is let go: a batch holds
// at most one message's worth of reply, whatever its size.
func (p *Publisher) gather(jo *jobOut, data []byte) {
	if jo.replyTooLarge {
		return
	}
	if jo.reply == nil {
		jo.reply = &bytes.Buffer{}
		jo.reply.WriteByte('[')
	} else {
		jo.reply.WriteByte(',')
	}
	if int64(jo.reply.Len()+len(data)+1+ResultHeaderBytes) > p.nc.MaxPayload() {
		jo.reply.Truncate(jo.reply.Len() - 1) // the separator, not counted yet
		p.dropReply(jo)
		jo.replyTooLarge = true
		return
	}
	jo.reply.Write(data)
	held := p.replyHeld.Add(int64(len(data) + 1)) // with its separator
	for {
		peak := p.replyPeak.Load()
		if held <= peak || p.replyPeak.CompareAndSwap(peak, held) {
			return
		}
	}
}

// dropReply lets go of what the batch's one-message reply holds.
func (p *Publisher) dropReply(jo *jobOut) {
	if jo.reply != nil {
		p.replyHeld.Add(-int64(jo.reply.Len()))
		jo.reply = nil
	}
}

// PublisherStats says what a Publisher holds for replies.
type PublisherStats struct {
	// ReplyBytesHeld is what one-message replies hold now, across batches;
	// ReplyBytesPeak the most they held at once. A batch holds at most the
	// max payload.
	ReplyBytesHeld, ReplyBytesPeak int64
}

// Stats returns what the publisher holds now and held at most.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{ReplyBytesHeld: p.replyHeld.Load(), ReplyBytesPeak: p.replyPeak.Load()}
}

// reply ends a request-reply batch. A streamed reply ends with the
// summary. A one-message reply is the JSON array of the results, or the
// summary when there are none (a rejected batch), or, when they did not
// fit in one message, the summary settled as reply_too_large.
func (p *Publisher) reply(d *stages.Done, jo *jobOut) {
	msg := &nats.Msg{Subject: d.Job.Reply, Data: d.Data}
	switch {
	case d.Job.ReplyStream:
		msg.Header = nats.Header{wire.HeaderReplyPart: []string{wire.ReplyPartSummary}}
	case jo.replyTooLarge:
		s := d.Summary
		s.Error, s.Message = wire.ErrReplyTooLarge, fmt.Sprintf(
			"the %d results do not fit in one %d-byte message; read them on %s, or ask for a streamed reply (header %s: true)",
			s.Count, p.nc.MaxPayload(), p.cfg.Results, wire.HeaderReplyStream)
		msg.Data, _ = json.Marshal(&s)
	case jo.reply != nil:
		msg.Data = append(jo.reply.Bytes(), ']')
	}
	msg.Header = tracectx.Inject(msg.Header, d.Job.Trace)
	p.sendReply(msg)
}

// sendReply publishes one reply message, as core NATS: a reply is for
// whoever waits on it now, and its loss does not hold back the batch.
func (p *Publisher) sendReply(msg *nats.Msg) {
	if err := p.send(msg, nil, false); err != nil {
		p.log.Error("reply failed", "subject", msg.Subject, "bytes", len(msg.Data), "err", err)
	}
}
