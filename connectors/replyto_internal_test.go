package connectors

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/wire"
)

// The reply header wins over the message's reply subject, in any case of
// its name; a reply subject one could not publish to is refused.
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
		{"header any case", nats.Header{"fetch-reply-to": {"_INBOX.y"}, "FETCH-REPLY-STREAM": {"TRUE"}}, "", "_INBOX.y", true},
		{"streamed", nats.Header{wire.HeaderReplyTo: {"_INBOX.r"}, wire.HeaderReplyStream: {"true"}}, "", "_INBOX.r", true},
		{"not streamed", nats.Header{wire.HeaderReplyTo: {"_INBOX.r"}, wire.HeaderReplyStream: {"yes"}}, "", "_INBOX.r", false},
		{"wildcard", nats.Header{wire.HeaderReplyTo: {"fetch.>"}}, "", "", false},
		{"star", nats.Header{wire.HeaderReplyTo: {"a.*.b"}}, "", "", false},
		{"space", nats.Header{wire.HeaderReplyTo: {"a b"}}, "", "", false},
		{"empty token", nats.Header{wire.HeaderReplyTo: {"a..b"}}, "", "", false},
		{"none", nil, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := inbound(nil, tc.header, tc.reply, nil, "fetch.urls")
			if in.Reply != tc.wantReply || in.ReplyStream != tc.wantStream {
				t.Errorf("reply %q streamed %v, want %q %v", in.Reply, in.ReplyStream, tc.wantReply, tc.wantStream)
			}
			if refused := in.Reject != nil; refused != (tc.wantReply == "" && tc.name != "none") {
				t.Errorf("refused %v (%+v)", refused, in.Reject)
			}
		})
	}
}

// Only subjects an entry matches take replies; never one the service
// reads or serves, and NATS's own APIs only where an entry names them.
func TestReplyPolicy(t *testing.T) {
	wide := &ReplyPolicy{Allowed: []string{">"}, Served: []string{"fetch.results", "fetch.batches", "fetch.dead"}, Setting: "--reply-subjects"}
	narrow := &ReplyPolicy{Allowed: []string{"_INBOX.>", "replies.*", "$KV.teamcfg.>"}, Setting: "--reply-subjects"}
	for _, tc := range []struct {
		policy *ReplyPolicy
		reply  string
		why    string // "" when allowed
	}{
		{nil, "_INBOX.abc.1", ""},
		{nil, "payments.commands", `"payments.commands" is not among the allowed reply subjects (_INBOX.>)`},
		{nil, "$KV.teamcfg.flag", `NATS's own $KV API`},
		{narrow, "replies.team1", ""},
		{narrow, "replies.team1.x", "not among the allowed reply subjects (_INBOX.>,replies.*,$KV.teamcfg.>): add it, or a pattern that matches it, to --reply-subjects"},
		{narrow, "$KV.teamcfg.flag", ""},
		{narrow, "$KV.other.flag", "only an entry of --reply-subjects that begins with $KV allows it"},
		{wide, "payments.commands", ""},
		{wide, "$KV.teamcfg.flag", "$KV"},
		{wide, "$JS.API.STREAM.DELETE.x", "$JS"},
		{wide, "$O.bucket.x", "$O"},
		{wide, "$SYS.REQ.SERVER.PING", "$SYS"},
		{wide, "$SRV.PING", `is in "$SRV.>", subjects the service publishes or serves`},
		{wide, "fetch.urls", `one the service reads batches from ("fetch.urls")`},
		{wide, "fetchstream.fetch", `one the service reads batches from ("fetchstream.fetch")`},
		{wide, "fetch.results", `"fetch.results" is a subject the service publishes or serves`},
		{wide, "fetch.batches", "fetch.batches"},
		{wide, "fetch.dead", "fetch.dead"},
		{wide, "fetch.>", "not one a reply can be published to"},
		{&ReplyPolicy{}, "_INBOX.x", "not among the allowed reply subjects ()"},
	} {
		got := tc.policy.check(tc.reply, "fetch.urls", "fetchstream.fetch")
		switch {
		case tc.why == "" && got != nil:
			t.Errorf("%v: %q refused: %s", tc.policy, tc.reply, got.Message)
		case tc.why != "" && got == nil:
			t.Errorf("%v: %q allowed, want it refused", tc.policy, tc.reply)
		case got != nil && (got.Kind != wire.ErrInvalidBatch || !strings.Contains(got.Message, tc.why)):
			t.Errorf("%v: %q: %s %q, want invalid_batch saying %q", tc.policy, tc.reply, got.Kind, got.Message, tc.why)
		}
	}
}
