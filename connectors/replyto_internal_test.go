package connectors

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/wire"
)

// The reply header wins over the message's reply subject, in any case of
// its name; a reply subject one could not publish to is dropped.
func TestInboundReplyTo(t *testing.T) {
	for _, tc := range []struct {
		name       string
		header     nats.Header
		reply      string
		wantReply  string
		wantStream bool
	}{
		{"reply subject", nil, "_INBOX.a", "_INBOX.a", false},
		{"header", nats.Header{wire.HeaderReplyTo: {"_INBOX.b"}}, "", "_INBOX.b", false},
		{"header wins", nats.Header{wire.HeaderReplyTo: {"_INBOX.b"}}, "_INBOX.a", "_INBOX.b", false},
		{"header any case", nats.Header{"fetch-reply-to": {"x.y"}, "FETCH-REPLY-STREAM": {"TRUE"}}, "", "x.y", true},
		{"streamed", nats.Header{wire.HeaderReplyTo: {"r"}, wire.HeaderReplyStream: {"true"}}, "", "r", true},
		{"not streamed", nats.Header{wire.HeaderReplyTo: {"r"}, wire.HeaderReplyStream: {"yes"}}, "", "r", false},
		{"wildcard", nats.Header{wire.HeaderReplyTo: {"fetch.>"}}, "", "", false},
		{"star", nats.Header{wire.HeaderReplyTo: {"a.*.b"}}, "", "", false},
		{"space", nats.Header{wire.HeaderReplyTo: {"a b"}}, "", "", false},
		{"empty token", nats.Header{wire.HeaderReplyTo: {"a..b"}}, "", "", false},
		{"none", nil, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := inbound(nil, tc.header, tc.reply)
			if in.Reply != tc.wantReply || in.ReplyStream != tc.wantStream {
				t.Errorf("reply %q streamed %v, want %q %v", in.Reply, in.ReplyStream, tc.wantReply, tc.wantStream)
			}
		})
	}
}
