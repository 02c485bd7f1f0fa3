package httpfetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"

	"github.com/fetchstream/fetchstream/stages/httpfetch/credentials"
	"github.com/fetchstream/fetchstream/wire"
)

// loopbackNet opens all of 127.0.0.0/8: 127.0.0.2 serves as a second host.
var loopbackNet = Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

const secret = "tok-5f3a9c1e-very-secret"

// seen is what a recording server got: each request's method, headers
// and body, by path.
type seen struct {
	mu   sync.Mutex
	reqs []*http.Request
	body map[*http.Request]string
}

func (s *seen) record(r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.body == nil {
		s.body = map[*http.Request]string{}
	}
	s.reqs = append(s.reqs, r)
	s.body[r] = string(data)
}

func (s *seen) all() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.reqs...)
}

func (s *seen) last(t *testing.T) (*http.Request, string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("the server got no request")
	}
	r := s.reqs[len(s.reqs)-1]
	return r, s.body[r]
}

// newHost serves go-httpbin on addr (127.0.0.1:0 or 127.0.0.2:0), with
// /record answering "ok" after recording the request in rec.
func newHost(t *testing.T, addr string, rec *seen) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	bin := httpbin.New()
	mux := http.NewServeMux()
	mux.Handle("/", bin)
	mux.HandleFunc("/record", func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/unavailable", func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		http.Error(w, "try later", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/307", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/latin1", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=ISO-8859-1")
		_, _ = w.Write([]byte("caf\xe9 cr\xe8me br\xfbl\xe9e"))
	})
	mux.HandleFunc("/sjis", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=Shift_JIS")
		_, _ = w.Write([]byte("\x93\xfa\x96\x7b")) // 日本
	})
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func do(f *Fetcher, req wire.Request, opts *wire.RequestOptions) wire.Result {
	return f.Do(context.Background(), req, opts, 5*time.Second)
}

// bodyOf decodes a result's JSON body.
func bodyOf(t *testing.T, r wire.Result) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	return v
}

func TestMethodsHeadersAndBodies(t *testing.T) {
	rec := &seen{}
	srv := newHost(t, "127.0.0.1:0", rec)
	f := newTestFetcher(t, Config{Policy: loopbackNet, UserAgent: "fetchstream-test"})

	// A JSON body is sent as its JSON text, as application/json.
	r := do(f, wire.Request{URL: srv.URL + "/record", Method: "post", Body: json.RawMessage(`{"q":"go","n":[1,2]}`)}, nil)
	got, body := rec.last(t)
	if r.Error != "" || r.Status != 200 || r.Method != "POST" || got.Method != "POST" || body != `{"q":"go","n":[1,2]}` ||
		got.Header.Get("Content-Type") != "application/json" || got.Header.Get("User-Agent") != "fetchstream-test" {
		t.Errorf("JSON POST: result %+v; server got %s %q %v", r, got.Method, body, got.Header)
	}
	// A string body is sent as is, under the caller's Content-Type.
	do(f, wire.Request{URL: srv.URL + "/record", Method: "PUT", Body: json.RawMessage(`"a=1&b=2"`),
		Headers: map[string]string{"content-type": "application/x-www-form-urlencoded", "X-Trace": "t1"}}, nil)
	got, body = rec.last(t)
	if got.Method != "PUT" || body != "a=1&b=2" || got.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || got.Header.Get("X-Trace") != "t1" {
		t.Errorf("string PUT: server got %s %q %v", got.Method, body, got.Header)
	}
	// body_base64 carries bytes.
	do(f, wire.Request{URL: srv.URL + "/record", Method: "PATCH", BodyBase64: "/wABAg=="}, nil)
	if got, body = rec.last(t); got.Method != "PATCH" || body != "\xff\x00\x01\x02" || got.ContentLength != 4 {
		t.Errorf("base64 PATCH: server got %s %q (length %d)", got.Method, body, got.ContentLength)
	}
	// Batch defaults: method, headers, user agent; the item's header wins.
	opts := &wire.RequestOptions{Method: "DELETE", UserAgent: "batch-agent", Headers: map[string]string{"X-A": "batch", "X-B": "batch"}}
	do(f, wire.Request{URL: srv.URL + "/record", Headers: map[string]string{"x-a": "item"}}, opts)
	if got, _ = rec.last(t); got.Method != "DELETE" || got.Header.Get("X-A") != "item" || got.Header.Get("X-B") != "batch" || got.Header.Get("User-Agent") != "batch-agent" {
		t.Errorf("defaults: server got %s %v", got.Method, got.Header)
	}
	// A User-Agent header wins over user_agent.
	do(f, wire.Request{URL: srv.URL + "/record", Headers: map[string]string{"User-Agent": "mine"}}, opts)
	if got, _ = rec.last(t); got.Header.Get("User-Agent") != "mine" {
		t.Errorf("User-Agent header: server got %q", got.Header.Get("User-Agent"))
	}
	// HEAD: a status and no body.
	r = do(f, wire.Request{URL: srv.URL + "/get", Method: "HEAD"}, nil)
	if r.Error != "" || r.Status != 200 || r.Method != "HEAD" || r.Body != nil || r.BodyBytes != 0 {
		t.Errorf("HEAD: %+v", r)
	}
	// OPTIONS, and a GET result says no method.
	if r = do(f, wire.Request{URL: srv.URL + "/anything", Method: "OPTIONS"}, nil); r.Method != "OPTIONS" || r.Error != "" {
		t.Errorf("OPTIONS: %+v", r)
	}
	if r = do(f, wire.Request{URL: srv.URL + "/anything", Method: "GET"}, nil); r.Method != "" || r.Error != "" {
		t.Errorf("GET: %+v", r)
	}
	// A POST redirected with 307 resends its body.
	to := url.QueryEscape(srv.URL + "/anything")
	r = do(f, wire.Request{URL: srv.URL + "/redirect-to?status_code=307&url=" + to, Method: "POST", Body: json.RawMessage(`"again"`),
		Headers: map[string]string{"Content-Type": "text/plain"}}, nil)
	if echo := bodyOf(t, r); r.Redirects != 1 || echo["method"] != "POST" || echo["data"] != "again" {
		t.Errorf("307 POST: %+v, echo %v", r, echo)
	}
}

// A request that must not be sent fails alone, as invalid_request, and
// reaches no server.
func TestInvalidRequests(t *testing.T) {
	rec := &seen{}
	srv := newHost(t, "127.0.0.1:0", rec)
	creds := mustCredentials(t, `{"api": {"hosts": ["`+srv.Listener.Addr().String()+`"], "headers": {"Authorization": "Bearer ${T}"}}}`)
	f := newTestFetcher(t, Config{Policy: loopbackNet, MaxRequestBody: 16, Credentials: creds})
	target := srv.URL + "/record"
	other := "http://127.0.0.3:1/record" // never dialed: the credential is refused first
	cases := []struct {
		name string
		req  wire.Request
		opts *wire.RequestOptions
		msg  string
	}{
		{"unknown method", wire.Request{Method: "BREW"}, nil, "method"},
		{"Host header", wire.Request{Headers: map[string]string{"Host": "internal.example"}}, nil, "Host may not"},
		{"CRLF in a value", wire.Request{Headers: map[string]string{"X-A": "1\r\nX-Injected: 1"}}, nil, "X-A"},
		{"Transfer-Encoding", wire.Request{Method: "POST", Headers: map[string]string{"Transfer-Encoding": "chunked"}}, nil, "Transfer-Encoding may not"},
		{"a bad batch default", wire.Request{}, &wire.RequestOptions{Headers: map[string]string{"Connection": "close"}}, "Connection may not"},
		{"body over the maximum", wire.Request{Method: "POST", Body: json.RawMessage(`"seventeen bytes.."`)}, nil, "over the maximum of 16"},
		{"both bodies", wire.Request{Method: "POST", Body: json.RawMessage(`"a"`), BodyBase64: "AA=="}, nil, "both"},
		{"unknown credential", wire.Request{Credential: "nope"}, nil, `no credential named "nope"`},
		{"credential for another host", wire.Request{URL: other, Credential: "api"}, nil, `credential "api" may not be sent to 127.0.0.3:1`},
		{"credential by default, for another host", wire.Request{URL: other}, &wire.RequestOptions{Credential: "api"}, "may not be sent"},
	}
	for _, c := range cases {
		if c.req.URL == "" {
			c.req.URL = target
		}
		r := do(f, c.req, c.opts)
		if r.Error != wire.ErrInvalidRequest || !strings.Contains(r.Message, c.msg) || r.Attempts != 0 || r.RemoteAddr != "" {
			t.Errorf("%s: %+v, want invalid_request mentioning %q", c.name, r, c.msg)
		}
		if strings.Contains(r.Message, secret) {
			t.Errorf("%s: the message shows the credential", c.name)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
	// An invalid URL stays invalid_url, whatever the request.
	if r := do(f, wire.Request{URL: "ftp://x/", Method: "BREW"}, nil); r.Error != wire.ErrInvalidURL {
		t.Errorf("bad URL and method: %+v", r)
	}
}

func mustCredentials(t *testing.T, file string) *credentials.Set {
	t.Helper()
	set, err := credentials.Parse([]byte(file), func(name string) (string, bool) {
		if name == "T" {
			return secret, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// A credential goes to its host only: refused for another, stripped (all
// of its headers) from a redirect to another, given again on a redirect
// back; and its value, echoed by a server, is not in the result.
func TestCredentialScope(t *testing.T) {
	recA, recB := &seen{}, &seen{}
	hostA := newHost(t, "127.0.0.1:0", recA)
	hostB := newHost(t, "127.0.0.2:0", recB)
	creds := mustCredentials(t, `{"api": {"hosts": ["`+hostA.Listener.Addr().String()+`"],
		"headers": {"Authorization": "Bearer ${T}", "X-Api-Key": "${T}"}}}`)
	f := newTestFetcher(t, Config{Policy: loopbackNet, Credentials: creds, ResponseHeaders: []string{"X-Echo"}})
	api := wire.Request{Credential: "api"}
	leaked := func(r wire.Result) bool {
		data, _ := json.Marshal(r)
		return strings.Contains(string(data), secret)
	}

	// Sent to its host.
	api.URL = hostA.URL + "/record"
	r := do(f, api, nil)
	got, _ := recA.last(t)
	if r.Error != "" || got.Header.Get("Authorization") != "Bearer "+secret || got.Header.Get("X-Api-Key") != secret || leaked(r) {
		t.Fatalf("to its host: %+v; server got %v", r, got.Header)
	}
	// Stripped, every header of it, on a redirect to another host.
	api.URL = hostA.URL + "/redirect-to?url=" + url.QueryEscape(hostB.URL+"/record")
	r = do(f, api, nil)
	got, _ = recB.last(t)
	if r.Error != "" || r.Redirects != 1 || got.Header.Get("Authorization") != "" || got.Header.Get("X-Api-Key") != "" || leaked(r) {
		t.Errorf("redirect to another host: %+v; it got %v", r, got.Header)
	}
	// And given again when a second redirect comes back to its host.
	back := hostA.URL + "/record"
	api.URL = hostA.URL + "/redirect-to?url=" + url.QueryEscape(hostB.URL+"/redirect-to?url="+url.QueryEscape(back))
	r = do(f, api, nil)
	got, _ = recA.last(t)
	if r.Error != "" || r.Redirects != 2 || got.Header.Get("X-Api-Key") != secret {
		t.Errorf("redirect back: %+v; its host got %v", r, got.Header)
	}
	// A server that echoes request headers (in its body or its headers)
	// does not put the value in the result.
	api.URL = hostA.URL + "/response-headers?X-Echo=" + url.QueryEscape("Bearer "+secret)
	r = do(f, api, &wire.RequestOptions{ResponseHeaders: []string{"X-Echo"}})
	r.URL = "" // the test put the value in the URL's query
	if r.Error != "" || leaked(r) || !strings.Contains(r.Headers["x-echo"], redacted) {
		t.Errorf("echoed in a header: %+v", r)
	}
	api.URL = hostA.URL + "/headers"
	if r = do(f, api, nil); r.Error != "" || leaked(r) || !strings.Contains(string(r.Body), redacted) {
		t.Errorf("echoed in the body: %s", r.Body)
	}
	// Refused, without a request, for another host.
	before := len(recB.all())
	api.URL = hostB.URL + "/record"
	if r = do(f, api, nil); r.Error != wire.ErrInvalidRequest || len(recB.all()) != before {
		t.Errorf("to another host: %+v", r)
	}
	// Without a credential, nothing of it is sent.
	do(f, wire.Request{URL: hostA.URL + "/record"}, nil)
	if got, _ = recA.last(t); got.Header.Get("Authorization") != "" || got.Header.Get("X-Api-Key") != "" {
		t.Errorf("no credential named, yet the server got %v", got.Header)
	}
}

func TestResponseHeadersAndRedirects(t *testing.T) {
	srv := newHost(t, "127.0.0.1:0", &seen{})
	f := newTestFetcher(t, Config{Policy: loopbackNet, ResponseHeaders: []string{"Content-Type"}})
	// Named headers, lower-cased, repeated values joined; the service's
	// list and the batch's together.
	r := do(f, wire.Request{URL: srv.URL + "/response-headers?X-Multi=a&X-Multi=b&ETag=e1"},
		&wire.RequestOptions{ResponseHeaders: []string{"x-multi", "ETAG", "X-Absent"}})
	want := map[string]string{"x-multi": "a, b", "etag": "e1", "content-type": "application/json; charset=utf-8"}
	if r.Error != "" || len(r.Headers) != len(want) {
		t.Fatalf("headers %v, want %v (%+v)", r.Headers, want, r)
	}
	for name, value := range want {
		if r.Headers[name] != value {
			t.Errorf("header %s = %q, want %q", name, r.Headers[name], value)
		}
	}
	// follow_redirects false: the 3xx is the result, its location when asked.
	no := false
	to := srv.URL + "/get"
	r = do(f, wire.Request{URL: srv.URL + "/redirect-to?status_code=302&url=" + url.QueryEscape(to)},
		&wire.RequestOptions{FollowRedirects: &no, ResponseHeaders: []string{"Location"}})
	if r.Error != "" || r.Status != 302 || r.Headers["location"] != to || r.Redirects != 0 || r.FinalURL != "" {
		t.Errorf("not followed: %+v", r)
	}
	// Followed by default.
	r = do(f, wire.Request{URL: srv.URL + "/redirect-to?url=" + url.QueryEscape(to)}, nil)
	if r.Error != "" || r.Status != 200 || r.Redirects != 1 || r.FinalURL != to {
		t.Errorf("followed: %+v", r)
	}
	// remote_addr is where the connection went.
	if r.RemoteAddr != srv.Listener.Addr().String() {
		t.Errorf("remote_addr %q, want %s", r.RemoteAddr, srv.Listener.Addr())
	}
	// A conditional GET: If-None-Match answered 304, a result without error.
	r = do(f, wire.Request{URL: srv.URL + "/etag/v1", Headers: map[string]string{"If-None-Match": `"v1"`}}, nil)
	if r.Error != "" || r.Status != http.StatusNotModified || r.Body != nil {
		t.Errorf("If-None-Match: %+v", r)
	}
}

func TestCharsets(t *testing.T) {
	srv := newHost(t, "127.0.0.1:0", &seen{})
	f := newTestFetcher(t, Config{Policy: loopbackNet})
	r := do(f, wire.Request{URL: srv.URL + "/latin1"}, nil)
	raw := "caf\xe9 cr\xe8me br\xfbl\xe9e"
	sum := sha256.Sum256([]byte(raw))
	if r.Error != "" || string(r.Body) != `"café crème brûlée"` || r.BodyCharset != "iso-8859-1" || r.BodyEncoding != "" ||
		r.BodySHA256 != hex.EncodeToString(sum[:]) || r.BodyBytes != int64(len(raw)) {
		t.Errorf("ISO-8859-1: %+v, body %s", r, r.Body)
	}
	if r = do(f, wire.Request{URL: srv.URL + "/sjis"}, nil); string(r.Body) != `"日本"` || r.BodyCharset != "shift_jis" {
		t.Errorf("Shift_JIS: body %s, charset %q", r.Body, r.BodyCharset)
	}
	// UTF-8 says no charset.
	if r = do(f, wire.Request{URL: srv.URL + "/encoding/utf8"}, nil); r.BodyCharset != "" || r.BodyEncoding != "" {
		t.Errorf("UTF-8: charset %q, encoding %q", r.BodyCharset, r.BodyEncoding)
	}
}

func TestToUTF8(t *testing.T) {
	cases := []struct {
		body, contentType, text, charset string
		ok                               bool
	}{
		{"caf\xe9", "text/plain; charset=iso-8859-1", "café", "iso-8859-1", true},
		{"\x80", "text/plain; charset=windows-1252", "€", "windows-1252", true},
		{"\xd6\xd0", "text/plain; charset=GB18030", "中", "gb18030", true},
		{"café", "text/plain; charset=utf-8", "", "", false},
		{"abc", "text/plain; charset=US-ASCII", "", "", false},
		{"abc", "text/plain", "", "", false},
		{"abc", "text/plain; charset=no-such-charset", "", "", false},
		{"abc", "", "", "", false},
	}
	for _, c := range cases {
		text, charset, ok := toUTF8([]byte(c.body), c.contentType)
		if ok != c.ok || (ok && (string(text) != c.text || charset != c.charset)) {
			t.Errorf("%q as %q: %q %q %v", c.body, c.contentType, text, charset, ok)
		}
	}
}

// Retries stay safe: a POST to a 503 is tried once, a GET (or a POST with
// an Idempotency-Key) retries+1 times.
func TestRetriesByMethod(t *testing.T) {
	cases := []struct {
		name     string
		req      wire.Request
		opts     *wire.RequestOptions
		attempts int
	}{
		{"GET", wire.Request{}, nil, 3},
		{"POST", wire.Request{Method: "POST", Body: json.RawMessage(`{"a":1}`)}, nil, 1},
		{"PATCH", wire.Request{Method: "PATCH"}, nil, 1},
		{"POST with an Idempotency-Key", wire.Request{Method: "POST", Headers: map[string]string{"Idempotency-Key": "k-1"}}, nil, 3},
		{"POST with retry_unsafe", wire.Request{Method: "POST"}, &wire.RequestOptions{RetryUnsafe: true}, 3},
		{"GET with retry_on leaving out 503", wire.Request{}, &wire.RequestOptions{RetryOn: []int{502}}, 1},
		{"PUT", wire.Request{Method: "PUT"}, nil, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &seen{}
			srv := newHost(t, "127.0.0.1:0", rec)
			f := newTestFetcher(t, Config{Policy: loopbackOnly, Retries: 2, RetryBase: time.Millisecond, RetryMax: time.Millisecond})
			c.req.URL = srv.URL + "/unavailable"
			r := do(f, c.req, c.opts)
			if got := len(rec.all()); r.Error != wire.ErrHTTP || r.Status != 503 || r.Attempts != c.attempts || got != c.attempts {
				t.Errorf("%+v with %d requests, want %d attempts", r, got, c.attempts)
			}
		})
	}
}

// The network policy judges every method and every redirect of one.
func TestPolicyCoversEveryMethod(t *testing.T) {
	srv := newHost(t, "127.0.0.1:0", &seen{})
	f := newTestFetcher(t, Config{Policy: loopbackOnly})
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"} {
		r := do(f, wire.Request{URL: "http://169.254.169.254/latest/", Method: method, Body: json.RawMessage(`{}`)}, nil)
		if r.Error != wire.ErrBlocked {
			t.Errorf("%s to link-local: %+v", method, r)
		}
		to := url.QueryEscape("http://127.0.0.2:1/")
		r = do(f, wire.Request{URL: srv.URL + "/307?to=" + to, Method: method}, nil)
		if r.Error != wire.ErrBlocked {
			t.Errorf("%s redirected to a refused address: %+v", method, r)
		}
	}
}

// On a redirect a credential's headers follow its host list, and never
// leave https for http, even to a listed host.
func TestCredentialOnRedirect(t *testing.T) {
	creds := mustCredentials(t, `{"api": {"hosts": ["api.example", "cdn.example:8443"], "headers": {"Authorization": "Bearer ${T}", "X-Key": "${T}"}}}`)
	cred, _ := creds.Lookup("api")
	s := &spec{cred: cred}
	first, _ := http.NewRequest("GET", "https://api.example/start", nil)
	for _, c := range []struct {
		to   string
		sent bool
	}{
		{"https://api.example/next", true},
		{"https://API.example:443/next", true},
		{"https://cdn.example:8443/x", true},
		{"https://cdn.example/x", false},
		{"https://other.example/x", false},
		{"http://api.example/next", false}, // https to http
	} {
		req, _ := http.NewRequest("GET", c.to, nil)
		req.Header.Set("Authorization", "copied by net/http")
		req.Header.Set("X-Key", "copied by net/http")
		req.Header.Set("Accept", "kept")
		s.credentialOnRedirect(req, first)
		sent := req.Header.Get("Authorization") == "Bearer "+secret && req.Header.Get("X-Key") == secret
		gone := req.Header.Get("Authorization") == "" && req.Header.Get("X-Key") == ""
		if (c.sent && !sent) || (!c.sent && !gone) || req.Header.Get("Accept") != "kept" {
			t.Errorf("redirect to %s: headers %v, want the credential sent: %v", c.to, req.Header, c.sent)
		}
	}
}

// A server that echoes only the token of an Authorization header (as
// httpbin's /bearer does) does not put it in the result either.
func TestCredentialTokenEchoedAloneIsRedacted(t *testing.T) {
	host := newHost(t, "127.0.0.1:0", &seen{})
	creds := mustCredentials(t, `{"api": {"hosts": ["`+host.Listener.Addr().String()+`"],
		"headers": {"Authorization": "Bearer ${T}"}}}`)
	f := newTestFetcher(t, Config{Policy: loopbackNet, Credentials: creds})
	r := do(f, wire.Request{URL: host.URL + "/bearer", Credential: "api"}, nil)
	data, _ := json.Marshal(r)
	if r.Error != "" || r.Status != 200 || strings.Contains(string(data), secret) || !strings.Contains(string(r.Body), redacted) {
		t.Errorf("/bearer echoed the token: %s", data)
	}
}
