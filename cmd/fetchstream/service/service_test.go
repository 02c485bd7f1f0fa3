package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// The three batch forms give the same ordered results and a summary.
func TestBatchFormsGiveOrderedResults(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	start(t, url, nil)
	results := loadtest.Subscribe(t, nc, wire.DefaultResultsSubject)
	summaries := loadtest.Subscribe(t, nc, wire.DefaultBatchesSubject)
	urls := []string{target.URL("/delay/300"), target.URL("/delay/100"), target.URL("/delay/200"), target.URL("/status/404")}

	arrayForm, _ := json.Marshal(urls)
	objectForm, _ := json.Marshal(wire.Batch{ID: "object", URLs: wire.URLs(urls...)})
	forms := []struct {
		name, id string
		msg      *nats.Msg
	}{
		{"text", "text", &nats.Msg{Data: []byte("\n" + strings.Join(urls, "\n") + "\n\n"), Header: nats.Header{"fetch-batch-id": {"text"}}}},
		{"array", "array", &nats.Msg{Data: arrayForm, Header: nats.Header{wire.HeaderBatchID: {"array"}}}},
		{"object", "object", &nats.Msg{Data: objectForm}},
	}
	for _, form := range forms {
		t.Run(form.name, func(t *testing.T) {
			form.msg.Subject = wire.DefaultInSubject
			if err := nc.PublishMsg(form.msg); err != nil {
				t.Fatal(err)
			}
			got := results.Results(len(urls), 5*time.Second)
			for i, r := range got {
				if r.BatchID != form.id || r.Index != i || r.Count != len(urls) || r.URL != urls[i] {
					t.Errorf("result %d = %+v, want batch %s index %d of %d for %s", i, r, form.id, i, len(urls), urls[i])
				}
			}
			if got[3].Error != wire.ErrHTTP || got[3].Status != 404 {
				t.Errorf("404 result = %+v, want http_error with status 404", got[3])
			}
			if got[0].Error != "" || got[0].Status != 200 || string(got[0].Body) != `{"delay_ms":300}` {
				t.Errorf("first result = %+v, want 200 with the JSON body embedded", got[0])
			}
			var s wire.Summary
			summaries.Next(&s, 5*time.Second)
			if s.BatchID != form.id || s.Count != 4 || s.OK != 3 || s.Failed != 1 || s.Errors[wire.ErrHTTP] != 1 {
				t.Errorf("summary = %+v", s)
			}
		})
	}
}

// Request-reply gathers: the reply is the ordered array, in about the
// longest delay rather than the sum.
func TestRequestReplyGathers(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	start(t, url, nil)
	urls := []string{target.URL("/delay/900"), target.URL("/delay/600"), target.URL("/delay/300"), target.URL("/status/404")}
	data, _ := json.Marshal(urls)
	start := time.Now()
	reply, err := nc.Request(wire.DefaultInSubject, data, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	var got []wire.Result
	if err := json.Unmarshal(reply.Data, &got); err != nil {
		t.Fatalf("reply %s: %v", reply.Data, err)
	}
	if len(got) != len(urls) {
		t.Fatalf("reply has %d results, want %d", len(got), len(urls))
	}
	for i, r := range got {
		if r.Index != i || r.URL != urls[i] {
			t.Errorf("reply[%d] = %+v, out of order", i, r)
		}
	}
	// Concurrent, not one after another: the three delayed URLs were in
	// flight together (the 404 may be done before the last one starts).
	if got := target.MaxInFlight(); got < 3 {
		t.Errorf("the target saw at most %d requests at once, want the three delayed ones together", got)
	}
	t.Logf("gather took %s for delays of 900, 600 and 300ms", wall)
}

// Every failure is mapped to its kind, and says how many attempts it took
// (retries are off by default: one attempt, none without a request).
func TestErrorMapping(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	hostile := fetchtest.NewHostile(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String() + "/"
	closed.Close()
	start(t, url, nil)
	cases := []struct {
		url      string
		kind     wire.ErrorKind
		status   int
		message  string
		attempts int
	}{
		{target.URL("/hang"), wire.ErrTimeout, 0, "within 300ms", 1},
		{target.URL("/status/404"), wire.ErrHTTP, 404, "", 1},
		{target.URL("/status/503"), wire.ErrHTTP, 503, "", 1},
		{"not a url", wire.ErrInvalidURL, 0, "scheme", 0},
		{"ftp://example.com/file", wire.ErrInvalidURL, 0, "scheme", 0},
		{"file:///etc/passwd", wire.ErrInvalidURL, 0, "scheme", 0},
		{"gopher://127.0.0.1:70/", wire.ErrInvalidURL, 0, "scheme", 0},
		{"http:///nohost", wire.ErrInvalidURL, 0, "no host", 0},
		{"http://169.254.169.254/latest/meta-data/", wire.ErrBlocked, 0, "; only allowing this address's range would permit it", 1},
		{"http://100.64.0.1/", wire.ErrBlocked, 0, "; only allowing this address's range would permit it", 1},
		{"http://10.255.255.1/", wire.ErrBlocked, 0, "; allowing private destinations, or this address's range, would permit it", 1},
		{hostile.URL("/redirect?to=http://169.254.169.254/"), wire.ErrBlocked, 0, "169.254.169.254", 1},
		{closedURL, wire.ErrConnection, 0, "refused", 1},
		{hostile.URL("/garbage"), wire.ErrConnection, 0, "malformed HTTP", 1},
		{hostile.URL("/redirect-loop"), wire.ErrTooManyRedirects, 0, "more than 10", 1},
		{hostile.URL("/endless-headers"), wire.ErrTooLarge, 0, "headers exceeded", 1},
		{target.URL("/text"), "", 200, "", 1},
	}
	batch := wire.Batch{TimeoutMS: 300}
	for _, c := range cases {
		batch.URLs = append(batch.URLs, wire.Request{URL: c.url})
	}
	got := loadtest.RequestBatch(t, nc, wire.DefaultInSubject, batch)
	for i, c := range cases {
		r := got[i]
		if r.Error != c.kind || r.Status != c.status || !strings.Contains(r.Message, c.message) || r.Attempts != c.attempts {
			t.Errorf("%s: got error %q status %d message %q attempts %d; want %q, %d, containing %q, %d attempts",
				c.url, r.Error, r.Status, r.Message, r.Attempts, c.kind, c.status, c.message, c.attempts)
		}
		if r.FetchedAt.IsZero() {
			t.Errorf("%s: no fetched_at", c.url)
		}
	}
}

// The global cap holds across batches, and is reached.
func TestConcurrencyCapNeverExceeded(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	start(t, url, func(c *Config) { c.Fetch.Concurrency = 5 })
	summaries := loadtest.Subscribe(t, nc, wire.DefaultBatchesSubject)
	const batches, perBatch = 4, 15
	for b := range batches {
		urls := make([]string, perBatch)
		for i := range urls {
			urls[i] = target.URL(fmt.Sprintf("/delay/%d", 20+(i*7+b*3)%40))
		}
		data, _ := json.Marshal(urls)
		if err := nc.Publish(wire.DefaultInSubject, data); err != nil {
			t.Fatal(err)
		}
	}
	for range batches {
		var s wire.Summary
		summaries.Next(&s, 10*time.Second)
		if s.OK != perBatch {
			t.Errorf("summary %+v, want %d ok", s, perBatch)
		}
	}
	if got := target.MaxInFlight(); got != 5 {
		t.Errorf("the target saw at most %d requests in flight, want exactly the cap of 5", got)
	}
}

// Bad messages get an error reply and summary; bad URLs get a result of
// their own and cost their batch nothing else; the next batch is served.
func TestBadMessagesSurvived(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	start(t, url, func(c *Config) { c.Fetch.MaxBatch = 3 })
	summaries := loadtest.Subscribe(t, nc, wire.DefaultBatchesSubject)
	fullOfURLs := bytes.Repeat([]byte("http://a/\n"), int(nc.MaxPayload()-1024)/10) // a max payload's worth
	bad := []struct {
		name string
		data []byte
		kind wire.ErrorKind
	}{
		{"empty", nil, wire.ErrInvalidBatch},
		{"blank", []byte(" \n\t\n"), wire.ErrInvalidBatch},
		{"binary", []byte{0xff, 0xfe, 0x00, 0x01}, wire.ErrInvalidBatch},
		{"invalid JSON", []byte(`{"urls": [`), wire.ErrInvalidBatch},
		{"wrong JSON types", []byte(`{"urls": "http://x"}`), wire.ErrInvalidBatch},
		{"array of numbers", []byte(`[1, 2]`), wire.ErrInvalidBatch},
		{"negative timeout", []byte(`{"urls": ["http://x"], "timeout_ms": -1}`), wire.ErrInvalidBatch},
		{"id a number", []byte(`{"id": 5, "urls": ["http://x"]}`), wire.ErrInvalidBatch},
		{"timeout overflows", []byte(`{"urls": ["http://x"], "timeout_ms": 1e30}`), wire.ErrInvalidBatch},
		{"deep nesting", []byte(strings.Repeat("[", 50000) + strings.Repeat("]", 50000)), wire.ErrInvalidBatch},
		{"too many URLs", []byte("http://a\nhttp://b\nhttp://c\nhttp://d"), wire.ErrBatchTooLarge},
		{"a max payload's worth of URLs", fullOfURLs, wire.ErrBatchTooLarge},
	}
	for _, c := range bad {
		start := time.Now()
		reply, err := nc.Request(wire.DefaultInSubject, c.data, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var s wire.Summary
		if err := json.Unmarshal(reply.Data, &s); err != nil || s.Error != c.kind || s.Message == "" {
			t.Errorf("%s: reply %s, want a summary with error %s and a message", c.name, reply.Data, c.kind)
		}
		t.Logf("%s (%d bytes): %s in %s: %.100s", c.name, len(c.data), s.Error, time.Since(start).Round(time.Millisecond), s.Message)
		var published wire.Summary
		summaries.Next(&published, 5*time.Second)
		if published.Error != c.kind {
			t.Errorf("%s: summary on %s = %+v", c.name, wire.DefaultBatchesSubject, published)
		}
	}
	// Over the max payload, the client refuses to send: the service never sees it.
	if err := nc.Publish(wire.DefaultInSubject, make([]byte, nc.MaxPayload()+1)); !errors.Is(err, nats.ErrMaxPayload) {
		t.Errorf("publishing over the max payload: %v, want nats.ErrMaxPayload", err)
	}

	// Bad URLs: each an invalid_url result, echoed whole when it fits and
	// cut (url_truncated) when its JSON would not; the good URL is fetched.
	long := "http://x/" + strings.Repeat("a", 100_000)
	escaped := "http://x/" + strings.Repeat("\x01<", 200_000) // 1.4 MB as JSON
	urls := []string{long, target.URL("/text"), escaped}
	start := time.Now()
	reply, err := nc.Request(wire.DefaultInSubject, []byte(strings.Join(urls, "\n")), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("URLs of 100 kB and 400 kB (1.4 MB as JSON) around a good one: reply of %d bytes in %s",
		len(reply.Data), time.Since(start).Round(time.Millisecond))
	var got []wire.Result
	if err := json.Unmarshal(reply.Data, &got); err != nil || len(got) != 3 {
		t.Fatalf("bad URLs batch: reply of %d bytes: %v", len(reply.Data), err)
	}
	if got[0].Error != wire.ErrInvalidURL || got[0].URL != long || got[0].URLTruncated || len(got[0].Message) > 100 {
		t.Errorf("100 kB URL: error %q, url %d bytes (truncated %v), message %q; want invalid_url echoing the whole URL",
			got[0].Error, len(got[0].URL), got[0].URLTruncated, got[0].Message)
	}
	if !got[1].OK() {
		t.Errorf("the good URL between bad ones: %+v", got[1])
	}
	if got[2].Error != wire.ErrInvalidURL || !got[2].URLTruncated || !strings.HasPrefix(escaped, got[2].URL) {
		t.Errorf("URL too big for a message as JSON: error %q, url_truncated %v", got[2].Error, got[2].URLTruncated)
	}
	var s wire.Summary
	summaries.Next(&s, 5*time.Second)
	if s.Count != 3 || s.OK != 1 || s.Errors[wire.ErrInvalidURL] != 2 {
		t.Errorf("bad URLs batch summary %+v", s)
	}

	data, _ := json.Marshal([]string{target.URL("/text")})
	reply, err = nc.Request(wire.DefaultInSubject, data, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var good []wire.Result
	if err := json.Unmarshal(reply.Data, &good); err != nil || len(good) != 1 || !good[0].OK() {
		t.Errorf("good batch after bad ones: reply %s", reply.Data)
	}
}

// Two services in one queue group share the batches, each batch whole.
func TestQueueGroupSharesBatches(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	a := start(t, url, nil)
	b := start(t, url, nil)
	results := loadtest.Subscribe(t, nc, wire.DefaultResultsSubject)
	const batches, perBatch = 40, 3
	for i := range batches {
		urls := []string{target.URL("/delay/30"), target.URL("/delay/10"), target.URL("/text")}
		data, _ := json.Marshal(wire.Batch{ID: fmt.Sprintf("b%d", i), URLs: wire.URLs(urls...)})
		if err := nc.Publish(wire.DefaultInSubject, data); err != nil {
			t.Fatal(err)
		}
	}
	next := map[string]int{}
	for _, r := range results.Results(batches*perBatch, 10*time.Second) {
		if r.Index != next[r.BatchID] {
			t.Errorf("batch %s: got index %d, want %d (duplicate or out of order)", r.BatchID, r.Index, next[r.BatchID])
		}
		next[r.BatchID]++
	}
	if extra, err := results.Sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Errorf("more results than URLs: %s", extra.Data)
	}
	doneA, doneB := strings.Count(a.logs.String(), `"batch done"`), strings.Count(b.logs.String(), `"batch done"`)
	if doneA+doneB != batches || doneA == 0 || doneB == 0 {
		t.Errorf("service A did %d batches, B did %d; want %d in all, shared", doneA, doneB, batches)
	}
}
