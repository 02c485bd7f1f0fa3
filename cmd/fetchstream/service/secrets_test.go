package service

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/stages/httpfetch/credentials"
	"github.com/fetchstream/fetchstream/wire"
)

// A publisher who may only name the credential "echo", whose hosts are
// honest echo servers, gets no piece of its value out of the service
// through NATS: not by asking for a compressed body (Accept-Encoding is
// refused, item or default), nor through gzip, deflate, br or zstd
// bodies, escaped, percent-encoded or base64 echoes, the --max-body cut,
// or the body's hash; a coding the service cannot decode is not returned.
// A canary to another host is answered promptly meanwhile.
func TestCredentialEchoAttacks(t *testing.T) {
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	echo := fetchtest.NewEcho(t, "127.0.0.1:0")
	bin := newRecorder(t, "127.0.0.1:0")
	neighbour := fetchtest.NewCounter(t, "127.0.0.2:0")
	const maxBody = 400
	set, err := credentials.Parse([]byte(fmt.Sprintf(`{"echo": {"hosts": [%q, %q], "headers": {"Authorization": "Bearer ${S}"}}}`,
		echo.Listener.Addr().String(), bin.Listener.Addr().String())),
		func(string) (string, bool) { return fetchtest.HardSecret, true })
	if err != nil {
		t.Fatal(err)
	}
	start(t, natsURL, func(c *Config) {
		c.Fetch.Credentials, c.Fetch.MaxBody = set, maxBody
	})
	results := loadtest.Subscribe(t, nc, wire.DefaultResultsSubject)
	summaries := loadtest.Subscribe(t, nc, wire.DefaultBatchesSubject)

	echoURL := func(form string, before int, coding string) string {
		q := url.Values{"form": {form}, "before": {fmt.Sprint(before)}, "after": {"600"}, "coding": {coding}}
		return echo.URL + "/echo?" + q.Encode()
	}
	gzipAsked := map[string]string{"Accept-Encoding": "gzip"}
	attack := wire.Batch{ID: "echo", TimeoutMS: 5000, RequestOptions: wire.RequestOptions{Credential: "echo"}, URLs: []wire.Request{
		{URL: bin.URL + "/headers", Headers: gzipAsked}, // 0: the attack, refused
		{URL: bin.URL + "/gzip"},                        // 1: httpbin's own gzip echo of the headers
		{URL: bin.URL + "/deflate"},                     // 2
		{URL: echoURL("json", 0, "br")},                 // 3: JSON-escaped, "<" as \u003c
		{URL: echoURL("b64", 1, "zstd")},                // 4: inside a longer base64 text
		{URL: echoURL("query", 2, "gzip,deflate")},      // 5: percent-encoded, stacked codings
		{URL: echoURL("raw", maxBody-20, "gzip")},       // 6: split by the --max-body cut
		{URL: echoURL("html", maxBody-3, "")},           // 7: split by the cut, HTML-escaped
		{URL: echoURL("raw", 0, "compress")},            // 8: a coding the service cannot decode
	}}
	byDefault := wire.Batch{ID: "echo-default", RequestOptions: wire.RequestOptions{Credential: "echo", Headers: gzipAsked},
		URLs: []wire.Request{{URL: echoURL("raw", 0, "")}}}
	for _, b := range []wire.Batch{attack, byDefault} {
		data, _ := json.Marshal(b)
		if err := nc.Publish(wire.DefaultInSubject, data); err != nil {
			t.Fatal(err)
		}
	}
	loadtest.Canary(t, nc, wire.DefaultInSubject, neighbour.URL+"/", loadtest.CanaryBudget)

	raw := rawMessages(t, results, len(attack.URLs)+len(byDefault.URLs)+1) // and the canary's
	got := map[string]wire.Result{}
	for _, m := range raw {
		var r wire.Result
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		fetchtest.AssertNoSecret(t, m.Data, fetchtest.HardSecret)
		if r.BatchID == "echo" && r.Index >= 3 && r.Index <= 7 {
			fetchtest.AssertBodyHash(t, m.Data)
		}
		got[fmt.Sprintf("%s/%d", r.BatchID, r.Index)] = r
	}
	for _, m := range rawMessages(t, summaries, 3) {
		fetchtest.AssertNoSecret(t, m.Data, fetchtest.HardSecret)
	}
	check := func(key string, ok bool, what string) {
		t.Helper()
		if !ok {
			t.Errorf("%s: %s: %+v", key, what, got[key])
		}
	}
	refused := func(r wire.Result) bool {
		return r.Error == wire.ErrInvalidRequest && strings.Contains(r.Message, "Accept-Encoding may not be set")
	}
	check("echo/0", refused(got["echo/0"]), "Accept-Encoding refused")
	check("echo-default/0", refused(got["echo-default/0"]), "a default Accept-Encoding refused")
	for i := 1; i <= 7; i++ {
		key := fmt.Sprintf("echo/%d", i)
		r := got[key]
		check(key, r.Error == "" && r.Redacted && strings.Contains(string(r.Body), "[credential]"), "redacted")
	}
	check("echo/6", got["echo/6"].BodyTruncated && got["echo/6"].ContentLength == got["echo/6"].BodyBytes, "cut, and sized as returned")
	check("echo/8", got["echo/8"].Error == wire.ErrUnexpected && strings.Contains(got["echo/8"].Message, `"compress"`) &&
		got["echo/8"].Body == nil, "an undecodable coding not returned")
}
