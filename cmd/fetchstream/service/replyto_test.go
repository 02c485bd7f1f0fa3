package service

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// startUsersServer runs an embedded server with JetStream and three
// users: the service (may publish anywhere), a publisher that may publish
// batches and read everything but may not write payments.commands nor
// $KV.teamcfg, and an observer of those two.
func startUsersServer(t *testing.T) string {
	t.Helper()
	publisher := &server.Permissions{
		Publish: &server.SubjectPermission{
			Allow: []string{"fetch.urls", "jsfetch.urls", "fetchstream.fetch", "_INBOX.>"},
			Deny:  []string{"payments.commands", "$KV.teamcfg.>"},
		},
		Subscribe: &server.SubjectPermission{Allow: []string{">"}},
	}
	return natstest.StartWithOptions(t, &server.Options{JetStream: true, StoreDir: t.TempDir(),
		Users: []*server.User{
			{Username: "service", Password: "s"},
			{Username: "publisher", Password: "p", Permissions: publisher},
			{Username: "observer", Password: "o"},
		}})
}

// A publisher who may not write payments.commands or $KV.teamcfg.flag
// cannot make the service write there: a batch naming either as its
// reply (its own reply subject, or Fetch-Reply-To), in core mode, in
// JetStream mode or through the micro endpoint, is not fetched and ends
// invalid_batch naming the subject and --reply-subjects; nothing reaches
// those subjects, though the service's own user may publish there. A
// canary is answered meanwhile.
func TestReplySubjectsOutsideTheListRefused(t *testing.T) {
	url := startUsersServer(t)
	attacked := fetchtest.NewCounter(t, "127.0.0.1:0")
	neighbour := fetchtest.NewCounter(t, "127.0.0.2:0")
	asService := func(c *Config) { c.NATS.Options = []nats.Option{nats.UserInfo("service", "s")} }
	start(t, url, asService)
	start(t, url, func(c *Config) {
		asService(c)
		c.JetStream.Enabled, c.JetStream.Stream, c.JetStream.Durable = true, "JSFETCH", "jsfetch"
		c.JetStream.DeadLetter = "jsfetch.dead"
		c.Subjects.In, c.Subjects.Out, c.Subjects.Batches, c.Subjects.Micro = "jsfetch.urls", "jsfetch.results", "jsfetch.batches", "jsfetch.fetch"
		c.Core.Queue = "jsfetch"
	})
	pub := natstest.Connect(t, url, nats.UserInfo("publisher", "p"))
	observer := natstest.Connect(t, url, nats.UserInfo("observer", "o"))
	stolen := loadtest.Subscribe(t, observer, "payments.commands")
	kv := loadtest.Subscribe(t, observer, "$KV.teamcfg.>")
	summaries := loadtest.Subscribe(t, observer, "*.batches")

	send := func(subject, id, reply, replyTo string) {
		t.Helper()
		m := &nats.Msg{Subject: subject, Reply: reply, Data: []byte(attacked.URL + "/" + id),
			Header: nats.Header{wire.HeaderBatchID: {id}}}
		if replyTo != "" {
			m.Header.Set(wire.HeaderReplyTo, replyTo)
		}
		if err := pub.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{
		"core-native":  "payments.commands",
		"core-header":  "$KV.teamcfg.flag",
		"core-stream":  "payments.commands",
		"micro-native": "payments.commands",
		"micro-header": "$KV.teamcfg.flag",
		"js-header":    "payments.commands",
		"js-kv":        "$KV.teamcfg.flag",
		"own-micro":    "fetchstream.fetch",
	}
	send("fetch.urls", "core-native", "payments.commands", "")
	send("fetch.urls", "core-header", "", "$KV.teamcfg.flag")
	send("fetch.urls", "core-stream", "", "payments.commands")
	send("fetchstream.fetch", "micro-native", "payments.commands", "")
	send("fetchstream.fetch", "micro-header", pub.NewRespInbox(), "$KV.teamcfg.flag")
	send("jsfetch.urls", "js-header", "", "payments.commands")
	send("jsfetch.urls", "js-kv", "", "$KV.teamcfg.flag")
	send("fetch.urls", "own-micro", "", "fetchstream.fetch")
	loadtest.Canary(t, pub, "fetch.urls", neighbour.URL+"/", loadtest.CanaryBudget)

	for len(want) > 0 {
		var s wire.Summary
		summaries.Next(&s, 10*time.Second)
		subject, ok := want[s.BatchID]
		if !ok {
			continue // the canary's
		}
		delete(want, s.BatchID)
		if s.Error != wire.ErrInvalidBatch || !strings.Contains(s.Message, `"`+subject+`"`) ||
			(s.BatchID != "own-micro" && !strings.Contains(s.Message, "--reply-subjects")) {
			t.Errorf("batch %s: summary %s %q, want invalid_batch naming %s and --reply-subjects", s.BatchID, s.Error, s.Message, subject)
		}
	}
	if n := attacked.Hits(); n != 0 {
		t.Errorf("%d requests for refused batches, want none", n)
	}
	for _, sub := range []*loadtest.Subscription{stolen, kv} {
		if m, err := sub.Sub.NextMsg(300 * time.Millisecond); err == nil {
			t.Errorf("%s received %q from the service", m.Subject, m.Data)
		}
	}
	// The refusal is the service's, not the server's: its user may write there.
	svc := natstest.Connect(t, url, nats.UserInfo("service", "s"))
	if err := svc.Publish("payments.commands", []byte("allowed")); err != nil {
		t.Fatal(err)
	}
	if _, err := stolen.Sub.NextMsg(5 * time.Second); err != nil {
		t.Errorf("the service's user cannot publish on payments.commands (%v): the test proves nothing", err)
	}
}
