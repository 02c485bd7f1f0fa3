package httpfetch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/stages/httpfetch/credentials"
	"github.com/fetchstream/fetchstream/wire"
)

// tracedContext is a context holding a recording span, as the fetch
// stage's span of a URL is, whose children are recorded in the returned
// exporter (read it once end is called).
func tracedContext(t *testing.T) (context.Context, *tracetest.InMemoryExporter, func()) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, parent := tp.Tracer("test").Start(context.Background(), "fetch url")
	return ctx, exp, func() { parent.End() }
}

func spanAttrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// A CLIENT span per attempt, with the HTTP client conventions' attributes:
// a 503 retried twice gives three, the later ones with resend_count, the
// failed ones with error.type http_error; the waits between them are
// events on the URL's span.
func TestAttemptSpans(t *testing.T) {
	h := fetchtest.NewHostile(t)
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Retries: 2, RetryBase: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	ctx, exp, end := tracedContext(t)
	target := flaky(h, "traced-503", 2, "503", "")
	r := f.Fetch(ctx, target, 2*time.Second)
	end()
	if !r.OK() || r.Attempts != 3 {
		t.Fatalf("result %+v", r)
	}
	u, _ := url.Parse(target)
	var clients []tracetest.SpanStub
	var parent tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		switch s.SpanKind {
		case oteltrace.SpanKindClient:
			clients = append(clients, s)
		case oteltrace.SpanKindInternal:
			parent = s
		}
	}
	if len(clients) != 3 {
		t.Fatalf("%d CLIENT spans, want 3", len(clients))
	}
	for i, s := range clients {
		a := spanAttrs(s)
		if s.Name != "GET" || s.Parent.SpanID() != parent.SpanContext.SpanID() || a["http.request.method"].AsString() != "GET" ||
			a["url.full"].AsString() != target || a["server.address"].AsString() != u.Hostname() ||
			a["server.port"].Emit() != u.Port() || a["network.peer.address"].AsString() != "127.0.0.1" {
			t.Errorf("attempt %d: %s %v", i+1, s.Name, a)
		}
		wantStatus, wantErr := int64(503), string(wire.ErrHTTP)
		if i == 2 {
			wantStatus, wantErr = 200, ""
		}
		if a["http.response.status_code"].AsInt64() != wantStatus || a["error.type"].AsString() != wantErr {
			t.Errorf("attempt %d: status %v, error.type %q", i+1, a["http.response.status_code"].Emit(), a["error.type"].AsString())
		}
		if got, ok := a["http.request.resend_count"]; (i == 0) == ok || (ok && got.AsInt64() != int64(i)) {
			t.Errorf("attempt %d: resend_count %v (set %v)", i+1, got.Emit(), ok)
		}
	}
	waits := 0
	for _, e := range parent.Events {
		if e.Name == "retry wait" {
			waits++
		}
	}
	if waits != 2 {
		t.Errorf("%d retry waits on the URL's span, want 2: %+v", waits, parent.Events)
	}
}

// Redirects are events of the attempt's span, where they lead shown as
// url.full is: no userinfo, signed query values REDACTED, a credential's
// value in any form replaced. A transport failure's span says its kind.
func TestAttemptSpanRedirectsRedacted(t *testing.T) {
	const secret = "s3cr3t-token-value"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(w, r, "/next?token="+url.QueryEscape(r.Header.Get("X-Key"))+"&Signature=abc", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	f := newTestFetcher(t, Config{Policy: loopbackOnly})
	f.SetCredentials(testCredentialSet(t, srv.Listener.Addr().String(), secret))
	ctx, exp, end := tracedContext(t)
	withUser := strings.Replace(srv.URL, "://", "://bob:pa55word@", 1) + "/start"
	var res wire.Result
	f.DoInto(ctx, &wire.Request{URL: withUser}, &wire.RequestOptions{Credential: "key"}, 2*time.Second, &res)
	if !res.OK() || !res.Redacted || res.Redirects != 1 {
		t.Fatalf("the credential's echo in the redirect was not redacted in the result: %+v", res)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	f.DoInto(ctx, &wire.Request{URL: dead.URL + "/gone"}, nil, 2*time.Second, &res)
	end()
	var sawRedirect, sawRefused bool
	for _, s := range exp.GetSpans() {
		for _, kv := range s.Attributes {
			if v := kv.Value.Emit(); strings.Contains(v, secret) || strings.Contains(v, "pa55word") {
				t.Errorf("span %s: %s = %q", s.Name, kv.Key, v)
			}
		}
		a := spanAttrs(s)
		if strings.HasSuffix(a["url.full"].AsString(), "/gone") {
			sawRefused = a["error.type"].AsString() == string(wire.ErrConnection)
		}
		for _, e := range s.Events {
			for _, kv := range e.Attributes {
				v := kv.Value.Emit()
				if strings.Contains(v, secret) {
					t.Errorf("event %s: %s = %q", e.Name, kv.Key, v)
				}
				if e.Name == "redirect" && kv.Key == "url.full" {
					sawRedirect = strings.Contains(v, "Signature=REDACTED") && strings.Contains(v, "token=")
				}
			}
		}
	}
	if !sawRedirect || !sawRefused {
		t.Errorf("redirect event seen %v, connection_error span seen %v: %+v", sawRedirect, sawRefused, exp.GetSpans())
	}
}

// Without a recording span in the context, the fetcher starts none.
func TestNoSpanWithoutRecordingParent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	t.Cleanup(srv.Close)
	f := newTestFetcher(t, Config{Policy: loopbackOnly})
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.NeverSample()))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "not sampled")
	if r := f.Fetch(ctx, srv.URL, time.Second); !r.OK() {
		t.Fatal(r)
	}
	parent.End()
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans under a span that does not record", n)
	}
}

// testCredentialSet is one credential, "key", sending secret as X-Key to
// host.
func testCredentialSet(t *testing.T, host, secret string) *credentials.Set {
	t.Helper()
	set, err := credentials.Parse([]byte(`{"key": {"hosts": ["`+host+`"], "headers": {"X-Key": "${S}"}}}`),
		func(string) (string, bool) { return secret, true })
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// BenchmarkFetcherTraced is BenchmarkFetcherLoopback with tracing off (no
// span in the context: what every request pays when nothing is
// configured) and on (a sampled, recording parent span, each attempt's
// CLIENT span exported to a batch processor that discards them).
//
//	go test -run '^$' -bench BenchmarkFetcherTraced -benchmem ./stages/httpfetch/
func BenchmarkFetcherTraced(b *testing.B) {
	target := fetchtest.NewTarget(b)
	url := target.URL("/delay/0")
	for _, traced := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[traced], func(b *testing.B) {
			f := newTestFetcher(b, Config{Policy: loopbackOnly, Concurrency: 64})
			ctx := context.Background()
			if traced {
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
				var parent oteltrace.Span
				ctx, parent = tp.Tracer("bench").Start(ctx, "fetch url")
				b.Cleanup(func() { parent.End() })
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if r := f.Fetch(ctx, url, time.Second); r.Error != "" {
						b.Errorf("fetch: %s %s", r.Error, r.Message)
						return
					}
				}
			})
		})
	}
}

// A hostile URL and server cannot bloat a span: url.full, of the request
// and of each redirect, is at most maxSpanURL bytes. It is cut after
// redaction, so a credential's echo that straddles the cut leaves no
// prefix of its value either.
func TestSpanURLBounded(t *testing.T) {
	const secret = "s3cr3t-token-value"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			// the token starts 6 bytes before the cut
			pad := maxSpanURL - 6 - len("http://"+r.Host+"/next?pad=&token=")
			http.Redirect(w, r, "/next?pad="+strings.Repeat("p", pad)+"&token="+url.QueryEscape(r.Header.Get("X-Key")), http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	f := newTestFetcher(t, Config{Policy: loopbackOnly})
	f.SetCredentials(testCredentialSet(t, srv.Listener.Addr().String(), secret))
	ctx, exp, end := tracedContext(t)
	long := srv.URL + "/start?q=" + strings.Repeat("q", MaxURLLength-len(srv.URL)-100)
	var res wire.Result
	f.DoInto(ctx, &wire.Request{URL: long}, &wire.RequestOptions{Credential: "key"}, 5*time.Second, &res)
	end()
	if !res.OK() || res.Redirects != 1 {
		t.Fatalf("result %+v", res)
	}
	urls := 0
	for _, s := range exp.GetSpans() {
		kvs := s.Attributes
		for _, e := range s.Events {
			kvs = append(kvs, e.Attributes...)
		}
		for _, kv := range kvs {
			if kv.Key != "url.full" {
				continue
			}
			urls++
			v := kv.Value.AsString()
			if len(v) > maxSpanURL || len(v) < maxSpanURL-20 {
				t.Errorf("span %s: url.full of %d bytes, want about %d", s.Name, len(v), maxSpanURL)
			}
			if strings.Contains(v, secret[:4]) {
				t.Errorf("span %s: url.full ends %q: a prefix of the credential", s.Name, v[len(v)-20:])
			}
		}
	}
	if urls != 2 {
		t.Errorf("%d url.full seen, want the attempt's and its redirect's", urls)
	}
}
