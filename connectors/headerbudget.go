package connectors

import (
	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/tracectx"
)

// ResultHeaderBytes is the most the publisher's headers add to a message
// that carries a result (on the results or changes subject, or as a part
// of a streamed reply) or a one-message reply, as nats.go writes them:
// the "NATS/1.0" status line and the closing blank line, then the largest
// of: a result's Nats-Msg-Id (the longest batch id and index) and the
// trace context tracectx.Inject writes (a traceparent, and a tracestate
// of at most tracectx.MaxTraceState bytes); a change's Nats-Msg-Id, 8
// bytes longer, without trace context; a reply part's header and the
// trace context. A result's JSON of at most the max payload less
// ResultHeaderBytes is always published whole; a one-message reply is
// gathered within the same bound (see gather).
const ResultHeaderBytes = len("NATS/1.0\r\n") + len("\r\n") + max(
	msgIDLine+tracectx.MaxHeaderBytes,
	msgIDLine+len(changedSuffix),
	replyPartLine+tracectx.MaxHeaderBytes)

// maxIndexDigits is the length of the largest index, math.MaxInt64.
const maxIndexDigits = 19

// changedSuffix ends the Nats-Msg-Id of a result published again on the
// changes subject.
const changedSuffix = "/changed"

const (
	msgIDLine = len(nats.MsgIdHdr) + len(": ") + wire.MaxIDLength +
		len("/") + maxIndexDigits + len("\r\n")
	replyPartLine = len(wire.HeaderReplyPart) + len(": ") +
		max(len(wire.ReplyPartResult), len(wire.ReplyPartSummary)) + len("\r\n")
)
