package service

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/stages/httpfetch/credentials"
	"github.com/fetchstream/fetchstream/wire"
)

// With --in "fetch.urls.>", a credential listed for fetch.urls.billing
// is sent for batches from that subject only, in core and JetStream mode;
// from fetch.urls.other or the micro endpoint its requests are
// invalid_request naming the credential and the subject, and never reach
// its host. A reload (as SIGHUP does) that widens the list takes effect.
// A canary is answered meanwhile.
func TestCredentialScopedToInputSubjects(t *testing.T) {
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	api := fetchtest.NewCounter(t, "127.0.0.1:0")
	neighbour := fetchtest.NewCounter(t, "127.0.0.2:0")
	scoped := func(subjects string) *credentials.Set {
		set, err := credentials.Parse([]byte(`{"billing": {"hosts": ["`+api.Listener.Addr().String()+`"],
			"headers": {"Authorization": "Bearer b1ll1ng-t0ken"}, "subjects": `+subjects+`}}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	core := start(t, natsURL, func(c *Config) {
		c.Subjects.In, c.Fetch.Credentials = "fetch.urls.>", scoped(`["fetch.urls.billing", "jsfetch.urls.billing"]`)
	})
	start(t, natsURL, func(c *Config) {
		c.Subjects.In, c.Subjects.Out, c.Subjects.Batches, c.Subjects.Micro = "jsfetch.urls.>", "jsfetch.results", "jsfetch.batches", "jsfetch.fetch"
		c.JetStream.Enabled, c.JetStream.Stream, c.JetStream.Durable, c.JetStream.DeadLetter = true, "JSFETCH", "jsfetch", "jsfetch.dead"
		c.Core.Queue = "jsfetch"
		c.Fetch.Credentials = scoped(`["fetch.urls.billing", "jsfetch.urls.billing"]`)
	})
	batch := wire.Batch{URLs: []wire.Request{{URL: api.URL + "/", Credential: "billing"}}}
	one := func(subject string) wire.Result {
		t.Helper()
		return replyTo(t, nc, subject, batch)[0]
	}
	refused := func(r wire.Result, subject string) bool {
		return r.Error == wire.ErrInvalidRequest &&
			strings.Contains(r.Message, `credential "billing" may not be used from subject "`+subject+`"`)
	}
	if r := one("fetch.urls.billing"); r.Error != "" {
		t.Errorf("core, from fetch.urls.billing: %s %s", r.Error, r.Message)
	}
	if r := one("jsfetch.urls.billing"); r.Error != "" {
		t.Errorf("JetStream, from jsfetch.urls.billing: %s %s", r.Error, r.Message)
	}
	sent := api.Hits()
	for _, subject := range []string{"fetch.urls.other", "jsfetch.urls.other", "fetch.urls.billing.x"} {
		if r := one(subject); !refused(r, subject) {
			t.Errorf("from %s: %s %q, want invalid_request naming the credential and the subject", subject, r.Error, r.Message)
		}
	}
	if r := one("fetchstream.fetch"); !refused(r, "fetchstream.fetch") {
		t.Errorf("through the micro endpoint: %s %q, want invalid_request", r.Error, r.Message)
	}
	loadtest.Canary(t, nc, "fetch.urls.canary", neighbour.URL+"/", loadtest.CanaryBudget)
	if n := api.Hits() - sent; n != 0 {
		t.Errorf("%d requests reached the credential's host from other subjects", n)
	}
	core.SetCredentials(scoped(`["fetch.urls.*"]`))
	if r := one("fetch.urls.other"); r.Error != "" {
		t.Errorf("after a reload that lists fetch.urls.*: %s %s", r.Error, r.Message)
	}
}

// replyTo sends batch on subject asking for its reply in Fetch-Reply-To
// (which works in JetStream mode too) and returns the results.
func replyTo(t *testing.T, nc *nats.Conn, subject string, batch wire.Batch) []wire.Result {
	t.Helper()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	data, _ := json.Marshal(batch)
	if err := nc.PublishMsg(&nats.Msg{Subject: subject, Data: data, Header: nats.Header{wire.HeaderReplyTo: {inbox}}}); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("no reply from %s: %v", subject, err)
	}
	var results []wire.Result
	if err := json.Unmarshal(m.Data, &results); err != nil || len(results) != len(batch.URLs) {
		t.Fatalf("reply from %s: %s (%v)", subject, m.Data, err)
	}
	return results
}
