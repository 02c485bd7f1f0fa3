package connectors

import (
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
)

// inbound builds what a source emits for one message: the batch id
// header, and where and how to reply. The wire.HeaderReplyTo header wins
// over the message's own reply subject (a stream keeps headers, not reply
// subjects); a reply subject that is not a plain subject (wildcards,
// spaces, empty tokens) is ignored, so a batch cannot make the service
// publish to a wildcard.
//
// A reply subject that a subject the service reads from (inputs) would
// take is refused: the reply would come back as a batch. The batch is then
// marked Reject (invalid_batch, not fetched), with no reply; its summary
// says why.
func inbound(data []byte, h nats.Header, reply string, inputs ...string) *stages.Inbound {
	if to := header(h, wire.HeaderReplyTo); to != "" {
		reply = to
	}
	if !plainSubject(reply) {
		reply = ""
	}
	in := &stages.Inbound{Data: data, HeaderID: header(h, wire.HeaderBatchID), Reply: reply,
		ReplyStream: strings.EqualFold(header(h, wire.HeaderReplyStream), "true")}
	for _, input := range inputs {
		if reply != "" && SubjectsCollide(reply, input) {
			in.Reply = ""
			in.Reject = &stages.BatchError{Kind: wire.ErrInvalidBatch, Message: fmt.Sprintf(
				"the reply subject %q is one the service reads batches from (%q): the reply would come back as a batch", reply, input)}
			break
		}
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
func plainSubject(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	for token := range strings.SplitSeq(s, ".") {
		if token == "" || token == "*" || token == ">" {
			return false
		}
	}
	return true
}
