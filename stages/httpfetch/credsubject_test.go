package httpfetch

import (
	"testing"

	"github.com/fetchstream/fetchstream/wire"
)

// A credential scoped to input subjects is sent only for batches that
// arrived on one of them: from another subject, or an unknown one, the
// request fails as invalid_request naming the credential and the
// subject, and nothing reaches the server.
func TestCredentialSubjectScope(t *testing.T) {
	rec := &seen{}
	host := newHost(t, "127.0.0.1:0", rec)
	creds := mustCredentials(t, `{
		"billing": {"hosts": ["`+host.Listener.Addr().String()+`"], "headers": {"Authorization": "Bearer ${T}"}, "subjects": ["fetch.urls.billing"]},
		"open": {"hosts": ["`+host.Listener.Addr().String()+`"], "headers": {"X-Key": "${T}"}}}`)
	f := newTestFetcher(t, Config{Policy: loopbackNet, Credentials: creds})
	from := func(subject string) *wire.RequestOptions { return &wire.RequestOptions{Subject: subject} }
	billing := wire.Request{URL: host.URL + "/record", Credential: "billing"}

	if r := do(f, billing, from("fetch.urls.billing")); r.Error != "" {
		t.Fatalf("from its subject: %+v", r)
	}
	if got, _ := rec.last(t); got.Header.Get("Authorization") != "Bearer "+secret {
		t.Errorf("from its subject, the server got %v", got.Header)
	}
	before := len(rec.all())
	r := do(f, billing, from("fetch.urls.other"))
	if r.Error != wire.ErrInvalidRequest || r.Message != `invalid request: credential "billing" may not be used from subject "fetch.urls.other"` {
		t.Errorf("from another subject: %s %q", r.Error, r.Message)
	}
	if r := do(f, billing, nil); r.Error != wire.ErrInvalidRequest {
		t.Errorf("from an unknown subject: %+v", r)
	}
	if n := len(rec.all()) - before; n != 0 {
		t.Errorf("%d requests reached the server from outside the credential's subjects", n)
	}
	if r := do(f, wire.Request{URL: host.URL + "/record", Credential: "open"}, from("any.subject")); r.Error != "" {
		t.Errorf("a credential without subjects from any subject: %+v", r)
	}
}
