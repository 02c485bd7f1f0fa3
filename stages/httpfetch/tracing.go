package httpfetch

// Spans of the fetcher, as OpenTelemetry's HTTP client conventions name
// them: a CLIENT span per attempt, a child of the span in the request's
// context (the fetch stage's span of the URL), with its redirects as
// events and the waits between attempts as events on the URL's span. A
// request whose context holds no recording span costs nothing here.
//
// What a span shows of a URL is what a result may show, and less: no
// userinfo, the query parameters that carry signatures replaced by
// REDACTED, and every form of the request's credential replaced as in
// the result (see redactor), cut to maxSpanURL bytes. No header, body or
// message goes in a span.

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/fetchstream/fetchstream/stages/backoff"
	"github.com/fetchstream/fetchstream/stages/internal/tracercache"
	"github.com/fetchstream/fetchstream/wire"
)

// tracerName is the instrumentation scope of the fetcher's spans.
const tracerName = "github.com/fetchstream/fetchstream/stages/httpfetch"

// attemptTracers keeps the tracer of the URLs' provider for the attempts'
// spans.
var attemptTracers = tracercache.New(tracerName)

// maxSpanURL is the longest url.full a span or a redirect event shows, in
// bytes, after redaction: a URL may be 8 KiB, and an attempt's span may
// hold a redirect event per hop.
const maxSpanURL = 2 << 10

// signedQuery are the query parameters whose values OpenTelemetry's
// conventions redact in url.full: request signatures and keys.
var signedQuery = []string{"AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"}

// startAttemptSpan starts attempt n of s as a CLIENT span under the span
// ctx holds, or returns nil when that one does not record.
func startAttemptSpan(ctx context.Context, s *spec, n int) oteltrace.Span {
	parent := oteltrace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return nil
	}
	host, port := s.url.Hostname(), s.url.Port()
	if port == "" {
		port = "80"
		if s.url.Scheme == "https" {
			port = "443"
		}
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", s.method),
		attribute.String("url.full", spanURL(s.url, s.redactor)),
		attribute.String("server.address", host),
	}
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, attribute.Int("server.port", p))
	}
	if n > 1 {
		attrs = append(attrs, attribute.Int("http.request.resend_count", n-1))
	}
	_, span := attemptTracers.Tracer(parent.TracerProvider()).Start(ctx, s.method,
		oteltrace.WithSpanKind(oteltrace.SpanKindClient), oteltrace.WithAttributes(attrs...))
	return span
}

// endAttemptSpan ends an attempt's span with its result, once redacted:
// the status, the error kind as error.type (the closed set of
// wire.ErrorKind, http_error for a status of 400 or more), the redirects
// followed and the address answered from.
func endAttemptSpan(span oteltrace.Span, res *wire.Result) {
	if res.Status > 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", res.Status))
	}
	if res.RemoteAddr != "" {
		if ip, port, err := net.SplitHostPort(res.RemoteAddr); err == nil {
			span.SetAttributes(attribute.String("network.peer.address", ip))
			if p, err := strconv.Atoi(port); err == nil {
				span.SetAttributes(attribute.Int("network.peer.port", p))
			}
		}
	}
	if res.Redirects > 0 {
		span.SetAttributes(attribute.Int("fetchstream.redirects", res.Redirects))
	}
	if res.Error != "" {
		span.SetAttributes(attribute.String("error.type", string(res.Error)))
		span.SetStatus(codes.Error, string(res.Error))
	}
	span.End()
}

// redirectEvent records on span the redirect to req, the hop'th: where
// it leads (redacted as url.full is) and the status that sent it there.
func redirectEvent(span oteltrace.Span, req *http.Request, r *redactor, hop int) {
	attrs := []attribute.KeyValue{
		attribute.String("url.full", spanURL(req.URL, r)),
		attribute.Int("fetchstream.redirect.hop", hop),
	}
	if req.Response != nil {
		attrs = append(attrs, attribute.Int("http.response.status_code", req.Response.StatusCode))
	}
	span.AddEvent("redirect", oteltrace.WithAttributes(attrs...))
}

// waitEvent records on the span ctx holds, if it records, a wait of d
// before attempt next.
func waitEvent(ctx context.Context, name string, d time.Duration, next int) {
	span := oteltrace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.AddEvent(name, oteltrace.WithAttributes(attribute.Float64("fetchstream.wait_ms", durationMS(d)),
		attribute.Int("fetchstream.next_attempt", next)))
}

// sleepTraced is backoff.Sleep of the wait d before attempt next, recorded
// as a "retry wait" event on the span ctx holds, if it records.
func sleepTraced(ctx context.Context, d time.Duration, next int) bool {
	waitEvent(ctx, "retry wait", d, next)
	return backoff.Sleep(ctx, d)
}

// spanURL is u as a span may show it: without userinfo, its signed query
// parameters' values REDACTED, and r's patterns replaced; then cut to
// maxSpanURL bytes, at a character's start.
func spanURL(u *url.URL, r *redactor) string {
	c := *u
	if c.User != nil {
		c.User = url.UserPassword("REDACTED", "REDACTED")
	}
	if c.RawQuery != "" {
		q := c.Query()
		changed := false
		for _, name := range signedQuery {
			if q.Has(name) {
				q.Set(name, "REDACTED")
				changed = true
			}
		}
		if changed {
			c.RawQuery = q.Encode()
		}
	}
	s := c.String()
	if r != nil {
		s, _ = r.redactString(s)
	}
	if len(s) > maxSpanURL {
		cut := maxSpanURL
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}
