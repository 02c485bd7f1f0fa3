package service

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/httpfetch/credentials"
	"github.com/fetchstream/fetchstream/wire"
)

const secret = "ghp_secret-0123456789abcdef"

// recorder is a go-httpbin host that also records what its /record,
// /unavailable (503) endpoints get, and serves /latin1 text.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newRecorder(t *testing.T, addr string) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	rec := &recorder{}
	mux := http.NewServeMux()
	mux.Handle("/", httpbin.New())
	mux.HandleFunc("/record", func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/unavailable", func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		http.Error(w, "later", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/latin1", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=iso-8859-1")
		_, _ = w.Write([]byte("na\xefve caf\xe9"))
	})
	rec.Server = &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	rec.Start()
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) add(req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, req)
}

// requests returns what path got so far.
func (r *recorder) requests(path string) []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*http.Request
	for _, req := range r.seen {
		if req.URL.Path == path {
			out = append(out, req)
		}
	}
	return out
}

func testCredentials(t *testing.T, host string) *credentials.Set {
	t.Helper()
	set, err := credentials.Parse([]byte(`{"api": {"hosts": ["`+host+`"],
		"headers": {"Authorization": "Bearer ${API_TOKEN}", "X-Api-Key": "${API_TOKEN}"}}}`),
		func(name string) (string, bool) { return secret, name == "API_TOKEN" })
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// rawMessages reads n messages of sub as they were published.
func rawMessages(t *testing.T, sub *loadtest.Subscription, n int) []*nats.Msg {
	t.Helper()
	out := make([]*nats.Msg, n)
	for i := range out {
		m, err := sub.Sub.NextMsg(15 * time.Second)
		if err != nil {
			t.Fatalf("message %d of %d on %s: %v", i+1, n, sub.Sub.Subject, err)
		}
		out[i] = m
	}
	return out
}

// noSecret fails the test if the secret is anywhere in what.
func noSecret(t *testing.T, where string, data ...[]byte) {
	t.Helper()
	for _, d := range data {
		if strings.Contains(string(d), secret) {
			t.Errorf("the credential's value is in the %s: %s", where, d)
		}
	}
}

// The proof, end to end through NATS: requests with methods,
// headers and bodies; a credential sent to its host, refused for another,
// stripped on a redirect to another; Host and CRLF refused; a POST to a
// 503 tried once with 2 retries, a GET three times; ISO-8859-1 as UTF-8;
// a 304 to If-None-Match; response headers; and the credential's value in
// no result, summary or log line.
func TestRequestsEndToEnd(t *testing.T) {
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	a := newRecorder(t, "127.0.0.1:0")
	b := newRecorder(t, "127.0.0.2:0")
	svc := start(t, natsURL, func(c *Config) {
		c.Fetch.Credentials = testCredentials(t, a.Listener.Addr().String())
		c.Fetch.Retries, c.Fetch.RetryBase, c.Fetch.RetryMax = 2, time.Millisecond, time.Millisecond
		c.Fetch.ResponseHeaders = []string{"X-Echo"}
		c.Fetch.UserAgent = "fetchstream-e2e"
	})
	results := loadtest.Subscribe(t, nc, wire.DefaultResultsSubject)
	summaries := loadtest.Subscribe(t, nc, wire.DefaultBatchesSubject)

	toB := url.QueryEscape(b.URL + "/record")
	batch := wire.Batch{ID: "api", TimeoutMS: 5000, RequestOptions: wire.RequestOptions{
		Headers: map[string]string{"X-Batch": "1"}, ResponseHeaders: []string{"ETag"}}, URLs: []wire.Request{
		{URL: a.URL + "/record", Method: "POST", Body: json.RawMessage(`{"q":1}`), Credential: "api"},           // 0
		{URL: b.URL + "/record", Credential: "api"},                                                             // 1
		{URL: a.URL + "/redirect-to?url=" + toB, Credential: "api"},                                             // 2
		{URL: a.URL + "/record", Headers: map[string]string{"Host": "internal"}},                                // 3
		{URL: a.URL + "/record", Headers: map[string]string{"X-A": "1\r\nX-Injected: 1"}},                       // 4
		{URL: a.URL + "/unavailable", Method: "POST"},                                                           // 5
		{URL: a.URL + "/unavailable"},                                                                           // 6
		{URL: a.URL + "/latin1"},                                                                                // 7
		{URL: a.URL + "/etag/v7", Headers: map[string]string{"If-None-Match": `"v7"`}},                          // 8
		{URL: a.URL + "/response-headers?X-Echo=" + url.QueryEscape(secret), Credential: "api", Method: "HEAD"}, // 9
		{URL: a.URL + "/headers", Credential: "api"},                                                            // 10
		{URL: a.URL + "/record", Credential: "nope"},                                                            // 11
	}}
	data, _ := json.Marshal(batch)
	if err := nc.Publish(wire.DefaultInSubject, data); err != nil {
		t.Fatal(err)
	}
	raw := rawMessages(t, results, len(batch.URLs))
	got := make([]wire.Result, len(raw))
	for i, m := range raw {
		if err := json.Unmarshal(m.Data, &got[i]); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(got[i].URL, secret) {
			continue // the test put the value in item 9's query string
		}
		noSecret(t, "result", m.Data)
	}
	sum := rawMessages(t, summaries, 1)[0]
	noSecret(t, "summary", sum.Data)

	check := func(i int, ok bool, what string) {
		t.Helper()
		if !ok {
			t.Errorf("item %d: %s: %+v", i, what, got[i])
		}
	}
	rec := a.requests("/record")
	check(0, got[0].Error == "" && got[0].Method == "POST" && len(rec) == 1 && rec[0].Method == "POST" &&
		rec[0].Header.Get("Authorization") == "Bearer "+secret && rec[0].Header.Get("X-Batch") == "1" &&
		rec[0].Header.Get("Content-Type") == "application/json" && rec[0].Header.Get("User-Agent") == "fetchstream-e2e",
		"a POST with the credential, to its host")
	check(1, got[1].Error == wire.ErrInvalidRequest && strings.Contains(got[1].Message, `credential "api" may not be sent`),
		"the credential refused for another host")
	onB := b.requests("/record")
	check(2, got[2].Error == "" && got[2].Redirects == 1 && len(onB) == 1 &&
		onB[0].Header.Get("Authorization") == "" && onB[0].Header.Get("X-Api-Key") == "",
		"the credential stripped on a redirect to another host")
	check(3, got[3].Error == wire.ErrInvalidRequest && strings.Contains(got[3].Message, "Host"), "Host refused")
	check(4, got[4].Error == wire.ErrInvalidRequest && strings.Contains(got[4].Message, "X-A"), "a CRLF value refused")
	unavailable := len(a.requests("/unavailable"))
	check(5, got[5].Status == 503 && got[5].Attempts == 1, "a POST to a 503 tried once")
	check(6, got[6].Status == 503 && got[6].Attempts == 3 && unavailable == 4, "a GET to a 503 tried three times")
	check(7, string(got[7].Body) == `"naïve café"` && got[7].BodyCharset == "iso-8859-1", "ISO-8859-1 as UTF-8")
	check(8, got[8].Error == "" && got[8].Status == 304, "304 to If-None-Match")
	check(9, got[9].Method == "HEAD" && got[9].Headers["x-echo"] == "[credential]" && got[9].Body == nil,
		"an echoed credential redacted from a HEAD's headers")
	check(10, got[10].Error == "" && strings.Contains(string(got[10].Body), "[credential]"), "an echoed credential redacted from a body")
	check(11, got[11].Error == wire.ErrInvalidRequest, "an unknown credential")
	if len(rec) != 1 {
		t.Errorf("/record on the credential's host got %d requests, want 1 (refused requests are not sent)", len(rec))
	}
	var s wire.Summary
	_ = json.Unmarshal(sum.Data, &s)
	if s.Count != len(batch.URLs) || s.Errors[wire.ErrInvalidRequest] != 4 {
		t.Errorf("summary %+v", s)
	}
	noSecret(t, "logs", []byte(svc.logs.String()))
}

// A batch given up on goes to the dead-letter subject as published:
// credential names only, never a value; nor is the value in the summary
// or the logs.
func TestCredentialNeverInDeadLetters(t *testing.T) {
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	a := newRecorder(t, "127.0.0.1:0")
	dead := loadtest.Subscribe(t, nc, wire.DefaultDeadLetterSubject)
	summaries := loadtest.Subscribe(t, nc, wire.DefaultBatchesSubject)
	svc := start(t, natsURL, func(c *Config) {
		c.JetStream.Enabled, c.Fetch.MaxBatch = true, 1
		c.Fetch.Credentials = testCredentials(t, a.Listener.Addr().String())
	})
	js, _ := jetstream.New(nc)
	data, _ := json.Marshal(wire.Batch{ID: "too-big", RequestOptions: wire.RequestOptions{Credential: "api"},
		URLs: wire.URLs(a.URL+"/record", a.URL+"/record")})
	if _, err := js.Publish(context.Background(), wire.DefaultInSubject, data); err != nil {
		t.Fatal(err)
	}
	m := rawMessages(t, dead, 1)[0]
	if m.Header.Get(wire.HeaderDeadKind) != wire.DeadBatchTooLarge || !strings.Contains(string(m.Data), `"credential":"api"`) {
		t.Errorf("dead letter %v %s", m.Header, m.Data)
	}
	var headers []byte
	for name, values := range m.Header {
		headers = append(headers, name+": "+strings.Join(values, ",")+"\n"...)
	}
	noSecret(t, "dead letter", m.Data, headers)
	noSecret(t, "summary", rawMessages(t, summaries, 1)[0].Data)
	noSecret(t, "logs", []byte(svc.logs.String()))
}

// The micro service's metadata describes the request format (the
// decoder's own fields, per_host_rate and robots among them) and names
// the credentials (never their values).
func TestMicroMetadataDescribesRequests(t *testing.T) {
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	start(t, natsURL, func(c *Config) { c.Fetch.Credentials = testCredentials(t, "api.example.com") })
	var info micro.Info
	answer := microControl(t, nc, micro.InfoVerb, &info)
	md := info.Metadata
	if md["request_format"] != wire.BatchFormat() || !strings.Contains(md["request_format"], `"per_host_rate"`) ||
		!strings.Contains(md["request_format"], `"robots"`) {
		t.Errorf("request_format %q, want wire.BatchFormat()", md["request_format"])
	}
	if !strings.Contains(md["request_format"], `"credential"`) || md["methods"] != "GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS" ||
		md["credentials"] != "api" || md["max_request_body"] != "262144" {
		t.Errorf("metadata %v", md)
	}
	noSecret(t, "micro info", answer)
}

// SetCredentials, as a reload does, takes effect for the requests that
// follow, while the service runs.
func TestSetCredentialsWhileRunning(t *testing.T) {
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	a := newRecorder(t, "127.0.0.1:0")
	svc := start(t, natsURL, func(c *Config) { c.Fetch.Credentials = testCredentials(t, "elsewhere.example") })
	batch := wire.Batch{URLs: []wire.Request{{URL: a.URL + "/record", Credential: "api"}}}
	if r := loadtest.RequestBatch(t, nc, wire.DefaultInSubject, batch)[0]; r.Error != wire.ErrInvalidRequest {
		t.Fatalf("before: %+v, want invalid_request (the credential is for another host)", r)
	}
	svc.SetCredentials(testCredentials(t, a.Listener.Addr().String()))
	if r := loadtest.RequestBatch(t, nc, wire.DefaultInSubject, batch)[0]; r.Error != "" {
		t.Fatalf("after: %+v", r)
	}
	if rec := a.requests("/record"); len(rec) != 1 || rec[0].Header.Get("Authorization") != "Bearer "+secret {
		t.Errorf("the target got %d requests: %v", len(rec), rec)
	}
	svc.SetCredentials(nil)
	if r := loadtest.RequestBatch(t, nc, wire.DefaultInSubject, batch)[0]; r.Error != wire.ErrInvalidRequest {
		t.Errorf("with none: %+v", r)
	}
}
