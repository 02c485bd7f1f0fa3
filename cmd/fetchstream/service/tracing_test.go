package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/tracing"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/tracing/otlptest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/tracectx"
)

const (
	publisherTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	publisherSpan  = "00f067aa0ba902b7"
)

// tracingFromEnv sets the OTEL_* variables of an export to receiver (the
// standard ones, as an operator would) and builds the provider from them,
// shut down when t ends.
func tracingFromEnv(t *testing.T, receiver *otlptest.Receiver) *tracing.Provider {
	t.Helper()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.URL)
	t.Setenv("OTEL_SERVICE_NAME", "enricher")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50") // ms: export soon, for the test
	tp, err := tracing.FromEnv(t.Context())
	if err != nil || tp == nil {
		t.Fatalf("tracing from the environment: %v, %v", tp, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(ctx)
	})
	return tp
}

// publishTraced publishes b on the input subject with header h.
func publishTraced(t *testing.T, nc *nats.Conn, b wire.Batch, h nats.Header) {
	t.Helper()
	data, _ := json.Marshal(b)
	if err := nc.PublishMsg(&nats.Msg{Subject: wire.DefaultInSubject, Data: data, Header: h}); err != nil {
		t.Fatal(err)
	}
}

// The "done when": a batch published with a traceparent yields,
// at the OTLP/HTTP endpoint OTEL_EXPORTER_OTLP_ENDPOINT names, spans of
// that trace under OTEL_SERVICE_NAME: a CONSUMER span, child of the
// publisher's, with messaging.system=nats; a span per URL; an HTTP CLIENT
// span per attempt with url.full and server.address, and for the 404
// its status and error.type. Its results and summary on NATS carry a
// traceparent of the same trace. The batch uses a credential, and one
// URL redirects to a URL holding the credential's value and another has
// a password in it: no span holds either.
func TestTraceFromPublisherToResults(t *testing.T) {
	ns, nc := natstest.Start(t)
	receiver := otlptest.New(t)
	tp := tracingFromEnv(t, receiver)
	bin := newRecorder(t, "127.0.0.1:0")
	host := bin.Listener.Addr().String()
	svc := start(t, ns.ClientURL(), func(c *Config) {
		c.Tracing, c.Fetch.Credentials = tp, testCredentials(t, host)
		c.Fetch.PerHostRate = 20 // the URLs after the first wait for their host's pace
	})
	results := loadtest.Subscribe(t, nc, wire.DefaultResultsSubject)
	summaries := loadtest.Subscribe(t, nc, wire.DefaultBatchesSubject)

	const password = "pw-Zx81Lq0Tn" // in a URL's userinfo
	withPassword := strings.Replace(bin.URL, "://", "://alice:"+password+"@", 1) + "/anything"
	b := wire.Batch{ID: "traced", RequestOptions: wire.RequestOptions{Credential: "api"}, URLs: []wire.Request{
		{URL: bin.URL + "/status/404"},
		{URL: bin.URL + "/redirect-to?url=" + url.QueryEscape("/anything?token="+url.QueryEscape(secret))},
		{URL: withPassword},
	}}
	publishTraced(t, nc, b, nats.Header{"traceparent": {"00-" + publisherTrace + "-" + publisherSpan + "-01"}})

	for i, m := range append(rawMessages(t, results, len(b.URLs)), rawMessages(t, summaries, 1)...) {
		sc := tracectx.Extract(m.Header)
		if sc.TraceID().String() != publisherTrace || sc.SpanID().String() == publisherSpan {
			t.Errorf("message %d on %s: traceparent %q, want a span of trace %s other than the publisher's", i, m.Subject,
				m.Header.Get("traceparent"), publisherTrace)
		}
	}

	var spans []otlptest.Span
	loadtest.WaitFor(t, 15*time.Second, "the batch's spans at the OTLP receiver", func() bool {
		spans = receiver.Spans()
		return countKind(spans, tracepb.Span_SPAN_KIND_CLIENT) >= len(b.URLs) && countKind(spans, tracepb.Span_SPAN_KIND_CONSUMER) >= 1
	})
	var consumer otlptest.Span
	for _, s := range spans {
		if testing.Verbose() {
			t.Logf("span %s %s parent %s %q kind %v status %v attrs %v events %v", s.TraceID, s.SpanID, s.ParentSpanID, s.Name, s.Kind, s.StatusCode, s.Attrs, s.Events)
		}
		if s.TraceID != publisherTrace {
			t.Errorf("span %q of trace %s, want %s", s.Name, s.TraceID, publisherTrace)
		}
		if s.Resource["service.name"] != "enricher" {
			t.Errorf("span %q of service %q, want OTEL_SERVICE_NAME's enricher", s.Name, s.Resource["service.name"])
		}
		if s.Kind == tracepb.Span_SPAN_KIND_CONSUMER {
			consumer = s
		}
	}
	if consumer.ParentSpanID != publisherSpan || consumer.Attrs["messaging.system"] != "nats" ||
		consumer.Attrs["messaging.destination.name"] != wire.DefaultInSubject || consumer.Attrs["messaging.message.id"] != "traced" ||
		consumer.Attrs["messaging.batch.message_count"] != "3" {
		t.Errorf("consumer span: %+v", consumer)
	}
	urlSpans := map[string]otlptest.Span{} // by span id
	hostWaits := 0
	for _, s := range spans {
		if s.Name == "fetch url" {
			for _, e := range s.Events {
				if e.Name == "host gates passed" && e.Attrs["fetchstream.host_wait_ms"] != "" {
					hostWaits++
				}
			}
			if s.ParentSpanID != consumer.SpanID {
				t.Errorf("URL span %v: parent %s, want the consumer span %s", s.Attrs, s.ParentSpanID, consumer.SpanID)
			}
			urlSpans[s.SpanID] = s
		}
	}
	if len(urlSpans) != len(b.URLs) || hostWaits == 0 {
		t.Errorf("%d URL spans, want %d; %d with a wait for the host's pace, want some", len(urlSpans), len(b.URLs), hostWaits)
	}
	var saw404, sawRedirect bool
	for _, s := range spans {
		if s.Kind != tracepb.Span_SPAN_KIND_CLIENT {
			continue
		}
		if _, ok := urlSpans[s.ParentSpanID]; !ok {
			t.Errorf("CLIENT span %s: parent %s is no URL span", s.Attrs["url.full"], s.ParentSpanID)
		}
		if s.Attrs["http.request.method"] != "GET" || s.Attrs["server.address"] != "127.0.0.1" || s.Attrs["server.port"] == "" ||
			!strings.HasPrefix(s.Attrs["url.full"], "http://") {
			t.Errorf("CLIENT span without the HTTP client attributes: %v", s.Attrs)
		}
		if strings.HasSuffix(s.Attrs["url.full"], "/status/404") {
			saw404 = true
			if s.Attrs["http.response.status_code"] != "404" || s.Attrs["error.type"] != string(wire.ErrHTTP) ||
				s.StatusCode != tracepb.Status_STATUS_CODE_ERROR {
				t.Errorf("404 span: status %v, attributes %v", s.StatusCode, s.Attrs)
			}
		}
		for _, e := range s.Events {
			if e.Name == "redirect" && strings.Contains(e.Attrs["url.full"], "/anything?token=") {
				sawRedirect = true
			}
		}
	}
	if !saw404 || !sawRedirect {
		t.Errorf("404 span seen %v, redirect event seen %v, in %+v", saw404, sawRedirect, spans)
	}
	families, err := svc.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var series []string
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "fetchstream_trace_spans_") {
			series = append(series, f.GetName())
		}
	}
	if len(series) != 2 {
		t.Errorf("/metrics has %v, want the dropped and export-failed span counters", series)
	}
	for _, body := range receiver.Bodies() {
		assertNoPiece(t, "an OTLP export", body, secret)
		assertNoPiece(t, "an OTLP export", body, url.QueryEscape(secret))
		assertNoPiece(t, "an OTLP export", body, password)
	}
}

// assertNoPiece fails t if data holds any fetchtest.PieceLen bytes of s.
func assertNoPiece(t *testing.T, where string, data []byte, s string) {
	t.Helper()
	for i := 0; i+fetchtest.PieceLen <= len(s); i++ {
		if bytes.Contains(data, []byte(s[i:i+fetchtest.PieceLen])) {
			t.Errorf("%s holds piece %d of a secret (%q)", where, i, s[i:i+fetchtest.PieceLen])
			return
		}
	}
}

func countKind(spans []otlptest.Span, kind tracepb.Span_SpanKind) (n int) {
	for _, s := range spans {
		if s.Kind == kind {
			n++
		}
	}
	return n
}

// A hostile publisher's trace context is ignored, never echoed: a
// traceparent that is not W3C's starts a new trace, a tracestate of 64
// members or over 4 KiB is dropped (a valid one is kept), and none of it
// comes back on the results. With tracing off, a valid traceparent is
// passed on as it came, and a garbage one is not passed on at all.
func TestHostileTraceContextIgnored(t *testing.T) {
	ns, nc := natstest.Start(t)
	target := fetchtest.NewTarget(t)
	for _, traced := range []bool{true, false} {
		t.Run(fmt.Sprintf("tracing=%v", traced), func(t *testing.T) {
			in, out := fmt.Sprintf("in.%v", traced), fmt.Sprintf("out.%v", traced)
			start(t, ns.ClientURL(), func(c *Config) {
				c.Subjects.In, c.Subjects.Out, c.Subjects.Batches, c.Subjects.Micro = in, out, "batches."+out, "micro."+out
				c.Core.Queue = "q" + out
				if traced {
					c.Tracing = tracingFromEnv(t, otlptest.New(t))
				}
			})
			results := loadtest.Subscribe(t, nc, out)
			valid := "00-" + publisherTrace + "-" + publisherSpan + "-01"
			var many []string
			for i := range 64 {
				many = append(many, fmt.Sprintf("k%d=v", i))
			}
			cases := []struct {
				name      string
				h         nats.Header
				wantTrace string // "" any new trace (or, with tracing off, none)
				wantState string
			}{
				{"garbage", nats.Header{"traceparent": {"00-zz-" + strings.Repeat("x", 10000)}}, "", ""},
				{"oversized", nats.Header{"traceparent": {valid + strings.Repeat("-ff", 5000)}}, "", ""},
				{"all zero", nats.Header{"traceparent": {"00-00000000000000000000000000000000-0000000000000000-01"}}, "", ""},
				{"repeated", nats.Header{"traceparent": {valid, valid}}, "", ""},
				{"64 members", nats.Header{"traceparent": {valid}, "tracestate": {strings.Join(many, ",")}}, publisherTrace, ""},
				{"over 4KiB", nats.Header{"traceparent": {valid}, "tracestate": {"k=" + strings.Repeat("v", 5000)}}, publisherTrace, ""},
				{"kept", nats.Header{"Traceparent": {valid}, "Tracestate": {"vendor=abc"}}, publisherTrace, "vendor=abc"},
			}
			for i, c := range cases {
				data, _ := json.Marshal(wire.Batch{ID: fmt.Sprintf("hostile-%d", i), URLs: []wire.Request{{URL: target.URL("/text")}}})
				if err := nc.PublishMsg(&nats.Msg{Subject: in, Data: data, Header: c.h}); err != nil {
					t.Fatal(err)
				}
				m := rawMessages(t, results, 1)[0]
				sc := tracectx.Extract(m.Header)
				switch {
				case c.wantTrace != "" && sc.TraceID().String() != c.wantTrace:
					t.Errorf("%s: result of trace %s, want %s", c.name, sc.TraceID(), c.wantTrace)
				case c.wantTrace == "" && traced && (!sc.IsValid() || sc.TraceID().String() == publisherTrace):
					t.Errorf("%s: result traceparent %q, want a new trace", c.name, m.Header.Get("traceparent"))
				case c.wantTrace == "" && !traced && m.Header.Get("traceparent") != "":
					t.Errorf("%s: tracing off, result traceparent %q, want none", c.name, m.Header.Get("traceparent"))
				}
				if got := m.Header.Get("tracestate"); got != c.wantState {
					t.Errorf("%s: result tracestate of %d bytes %.40q, want %q", c.name, len(got), got, c.wantState)
				}
				if !traced && c.wantTrace != "" && sc.SpanID().String() != publisherSpan {
					t.Errorf("%s: tracing off, result span %s, want the publisher's %s passed on", c.name, sc.SpanID(), publisherSpan)
				}
			}
		})
	}
}

// In JetStream mode the stream keeps the batch's headers: its results and
// summary continue the publisher's trace, and so do the spans exported.
func TestTraceThroughJetStream(t *testing.T) {
	ns, nc := natstest.Start(t)
	receiver := otlptest.New(t)
	tp := tracingFromEnv(t, receiver)
	target := fetchtest.NewTarget(t)
	start(t, ns.ClientURL(), func(c *Config) { c.JetStream.Enabled, c.Tracing = true, tp })
	results := loadtest.Subscribe(t, nc, wire.DefaultResultsSubject)
	summaries := loadtest.Subscribe(t, nc, wire.DefaultBatchesSubject)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(wire.Batch{ID: "js-traced", URLs: wire.URLs(target.URL("/text"))})
	if _, err := js.PublishMsg(t.Context(), &nats.Msg{Subject: wire.DefaultInSubject, Data: data,
		Header: nats.Header{"traceparent": {"00-" + publisherTrace + "-" + publisherSpan + "-01"}}}); err != nil {
		t.Fatal(err)
	}
	for _, m := range append(rawMessages(t, results, 1), rawMessages(t, summaries, 1)...) {
		if sc := tracectx.Extract(m.Header); sc.TraceID().String() != publisherTrace {
			t.Errorf("%s: traceparent %q, want trace %s", m.Subject, m.Header.Get("traceparent"), publisherTrace)
		}
	}
	loadtest.WaitFor(t, 15*time.Second, "the consumer span, child of the publisher's", func() bool {
		for _, s := range receiver.Spans() {
			if s.Kind == tracepb.Span_SPAN_KIND_CONSUMER && s.ParentSpanID == publisherSpan && s.TraceID == publisherTrace {
				return true
			}
		}
		return false
	})
}

// Replies continue the trace too: a one-message reply (nats request) and
// each message of a streamed reply carry a traceparent of the batch's
// trace.
func TestRepliesCarryTheTrace(t *testing.T) {
	ns, nc := natstest.Start(t)
	target := fetchtest.NewTarget(t)
	start(t, ns.ClientURL(), func(c *Config) { c.Tracing = tracingFromEnv(t, otlptest.New(t)) })
	parent := nats.Header{"traceparent": {"00-" + publisherTrace + "-" + publisherSpan + "-01"}}
	data, _ := json.Marshal(wire.Batch{ID: "reply-traced", URLs: wire.URLs(target.URL("/text"), target.URL("/status/404"))})
	reply, err := nc.RequestMsg(&nats.Msg{Subject: wire.DefaultInSubject, Data: data, Header: parent}, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if sc := tracectx.Extract(reply.Header); sc.TraceID().String() != publisherTrace {
		t.Errorf("one-message reply: traceparent %q, want trace %s", reply.Header.Get("traceparent"), publisherTrace)
	}
	inbox := nats.NewInbox()
	streamed := loadtest.Subscribe(t, nc, inbox)
	h := nats.Header{wire.HeaderReplyTo: {inbox}, wire.HeaderReplyStream: {"true"}, "traceparent": parent["traceparent"]}
	data, _ = json.Marshal(wire.Batch{ID: "stream-traced", URLs: wire.URLs(target.URL("/text"), target.URL("/status/404"))})
	if err := nc.PublishMsg(&nats.Msg{Subject: wire.DefaultInSubject, Data: data, Header: h}); err != nil {
		t.Fatal(err)
	}
	for i, m := range rawMessages(t, streamed, 3) { // two results, then the summary
		if sc := tracectx.Extract(m.Header); sc.TraceID().String() != publisherTrace {
			t.Errorf("streamed reply message %d (%s): traceparent %q, want trace %s", i, m.Header.Get(wire.HeaderReplyPart),
				m.Header.Get("traceparent"), publisherTrace)
		}
	}
}

// A collector that is gone never holds up the pipeline: the batches are
// answered as without tracing, and the spans past OTEL_BSP_MAX_QUEUE_SIZE
// are dropped and counted in /metrics. Gone is refused (nothing listens)
// before the first export (the default 5s delay), or silent: a listener
// that accepts and never answers, exported to early (a 20ms delay), so
// the exporter waits on it for its timeout while spans pile up.
func TestCollectorGoneNeverBlocks(t *testing.T) {
	for _, collector := range []string{"refused", "silent"} {
		t.Run(collector, func(t *testing.T) {
			endpoint := "http://127.0.0.1:1" // nothing listens
			if collector == "silent" {
				endpoint = "http://" + fetchtest.Silent(t)
				t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "20") // ms: the exporter is stuck early
			}
			collectorGoneNeverBlocks(t, endpoint, collector == "silent")
		})
	}
}

func collectorGoneNeverBlocks(t *testing.T, endpoint string, stuck bool) {
	ns, nc := natstest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
	t.Setenv("OTEL_BSP_MAX_QUEUE_SIZE", "16")
	tp, err := tracing.FromEnv(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = tp.Shutdown(ctx)
	})
	target := fetchtest.NewTarget(t)
	svc := start(t, ns.ClientURL(), func(c *Config) { c.Tracing = tp })
	summaries := loadtest.Subscribe(t, nc, wire.DefaultBatchesSubject)
	const batches, size = 5, 20
	for i := range batches {
		urls := make([]string, size)
		for j := range urls {
			urls[j] = target.URL("/text")
		}
		publishTraced(t, nc, wire.Batch{ID: fmt.Sprintf("gone-%d", i), URLs: wire.URLs(urls...)}, nil)
	}
	rawMessages(t, summaries, batches) // within rawMessages' 15s each, with generous margin
	// Each URL ends a span and an attempt's span, each batch one more. A
	// stuck exporter took at most one export's worth (16) and 16 more wait:
	// the rest are dropped. A refusing one fails its exports at once: what
	// it took is counted as failed, the rest dropped.
	loadtest.WaitFor(t, 10*time.Second, "spans dropped (or failed) and counted", func() bool {
		lost := tp.Dropped()
		if !stuck {
			lost += tp.ExportFailed()
		}
		return lost >= 2*batches*size-2*16
	})
	t.Logf("%d spans dropped, %d failed to export", tp.Dropped(), tp.ExportFailed())
	families, err := svc.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "fetchstream_trace_spans_dropped_total" && f.GetMetric()[0].GetCounter().GetValue() < 1 {
			t.Errorf("%s = %v, want the drops", f.GetName(), f.GetMetric()[0].GetCounter().GetValue())
		}
	}
}
