package connectors

import (
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/tracectx"
)

// inbound builds what a source emits for one message: the batch id
// header, and where and how to reply. The wire.HeaderReplyTo header wins
// over the message's own reply subject (a stream keeps headers, not reply
// subjects). A reply subject that policy refuses (see ReplyPolicy; own
// are the subjects the source reads) marks the batch Reject
// (invalid_batch, not fetched), with no reply; its summary says why.
func inbound(data []byte, h nats.Header, reply string, policy *ReplyPolicy, own ...string) *stages.Inbound {
	if to := header(h, wire.HeaderReplyTo); to != "" {
		reply = to
	}
	in := &stages.Inbound{Data: data, HeaderID: header(h, wire.HeaderBatchID), Reply: reply,
		ReplyStream: strings.EqualFold(header(h, wire.HeaderReplyStream), "true"), Trace: tracectx.Extract(h)}
	if refused := policy.check(reply, own...); refused != nil {
		in.Reply, in.ReplyStream, in.Reject = "", false, refused
	}
	return in
}

// header finds a header's first value, whatever case the client gave its name.
func header(h nats.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// plainSubject reports whether s is a subject one may publish to:
// non-empty dot-separated tokens, no wildcard, no white space.
func plainSubject(s string) bool { return wire.ValidSubject(s, false) == nil }
