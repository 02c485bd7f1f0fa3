package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// publish --wait prints the results in order and exits by the rule, in
// both modes; in JetStream mode the batch is stored with its id as
// Nats-Msg-Id, so publishing it again stores nothing new.
func TestPublishWait(t *testing.T) {
	for _, mode := range []string{"core", "jetstream"} {
		t.Run(mode, func(t *testing.T) {
			ns, nc := natstest.Start(t)
			url := ns.ClientURL()
			target := fetchtest.NewTarget(t)
			args := []string{}
			if mode == "jetstream" {
				args = append(args, "--jetstream")
			}
			startService(t, url, args...)
			publish := func(id string, urls ...string) (int, string) {
				var stdout, stderr syncBuffer
				code := Main(t.Context(), append([]string{"publish", "--nats-url", url, "--wait", "--id", id}, urls...), &stdout, &stderr)
				return code, stdout.String() + stderr.String()
			}
			code, out := publish("all-ok", target.URL("/delay/50"), target.URL("/text"))
			if code != exitOK || !strings.Contains(out, "2 ok, 0 failed") {
				t.Errorf("all ok: exit %d, output:\n%s", code, out)
			}
			// A failure's message is on the line under its row (http_error
			// has none: its status says it).
			code, out = publish("some-failed", target.URL("/delay/50"), target.URL("/status/404"), "not a url")
			lines := strings.Split(out, "\n")
			if code != exitFailures || !strings.Contains(out, "1 ok, 2 failed") || len(lines) < 5 ||
				!strings.Contains(lines[1], "/delay/50") || !strings.Contains(lines[2], "http_error") || !strings.Contains(lines[3], "invalid_url") ||
				!strings.HasPrefix(lines[4], messageIndent+"invalid URL") {
				t.Errorf("some failed: exit %d (want %d), output:\n%s", code, exitFailures, out)
			}
			if mode != "jetstream" {
				return
			}
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			stream, err := js.Stream(t.Context(), "FETCH_URLS")
			if err != nil {
				t.Fatal(err)
			}
			before, _ := stream.Info(t.Context())
			ack, err := js.Publish(t.Context(), wire.DefaultInSubject, []byte(target.URL("/text")), jetstream.WithMsgID("all-ok"))
			if err != nil || !ack.Duplicate {
				t.Errorf("republishing batch all-ok: ack %+v, err %v; want a duplicate", ack, err)
			}
			after, _ := stream.Info(t.Context())
			if after.State.LastSeq != before.State.LastSeq {
				t.Errorf("the stream stored a repeated batch id")
			}
			// publish --wait of a batch id the stream already holds says so
			// at once, instead of waiting for a summary that never comes.
			code, out = publish("all-ok", target.URL("/text"))
			if code != exitError || !strings.Contains(out, "fetchstream: duplicate batch id: batch all-ok was published to stream FETCH_URLS within its duplicate window") ||
				strings.Contains(out, "fetchstream client:") {
				t.Errorf("republishing all-ok with --wait: exit %d, output:\n%s", code, out)
			}
		})
	}
}

// A split list prints in the list's order, each row with the URL's
// position in the whole list, whatever order the service ends the parts
// in; the new batch flags reach the batch.
func TestPublishWaitSplitInListOrder(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	startService(t, url)
	batches := subscribe(t, nc, wire.DefaultInSubject)
	results := subscribe(t, nc, wire.DefaultResultsSubject)
	// The first part waits for the others: served apart, it would end last.
	urls := []string{target.URL("/delay/300"), target.URL("/text"), target.URL("/text"), target.URL("/text"), target.URL("/status/404")}
	var stdout, stderr syncBuffer
	code := Main(t.Context(), append([]string{"publish", "--nats-url", url, "--wait", "--id", "list", "--max-batch", "2",
		"--priority", "7", "--concurrency", "3", "--correlation-id", "flow", "--wait-timeout", "1m"}, urls...), &stdout, &stderr)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if code != exitFailures || len(lines) != 7 || !strings.Contains(lines[6], "4 ok, 1 failed") {
		t.Fatalf("exit %d (want %d), output:\n%s%s", code, exitFailures, stdout.String(), stderr.String())
	}
	for i, line := range lines[1:6] {
		fields := strings.Fields(line)
		wantBatch := fmt.Sprintf("list-%d", i/2+1)
		if len(fields) < 2 || fields[0] != wantBatch || fields[1] != fmt.Sprint(i) || !strings.HasSuffix(line, urls[i]) {
			t.Errorf("row %d is %q, want batch %s, position %d, %s", i, line, wantBatch, i, urls[i])
		}
	}
	var first wire.Result
	results.next(&first, 10*time.Second)
	if first.BatchID == "list-1" {
		t.Errorf("the service published %s/%d first: the test's parts did not finish out of order", first.BatchID, first.Index)
	}
	var b wire.Batch
	batches.next(&b, 10*time.Second)
	if b.ID != "list-1" || b.Priority == nil || *b.Priority != 7 || b.Concurrency != 3 || b.CorrelationID != "flow" {
		t.Errorf("the first batch published is %+v, want list-1, priority 7, concurrency 3, correlation flow", b)
	}
}

// publish --wait gives a clear answer at once, instead of hanging, when
// the batch id is one the service would not take and when no service
// consumes the subject.
func TestPublishWaitEnds(t *testing.T) {
	ns, _ := natstest.Start(t)
	url := ns.ClientURL()
	publish := func(args ...string) (int, string, string) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		var stdout, stderr syncBuffer
		code := Main(ctx, append([]string{"publish", "--nats-url", url, "--wait"}, args...), &stdout, &stderr)
		if ctx.Err() != nil {
			t.Fatalf("publish %v did not end by itself", args)
		}
		return code, stdout.String(), stderr.String()
	}
	code, _, stderr := publish("--id", strings.Repeat("x", 300), "http://example.com/")
	if code != exitError || !strings.Contains(stderr, "over the 256") {
		t.Errorf("id of 300 bytes: exit %d, stderr:\n%s", code, stderr)
	}
	code, _, stderr = publish("--priority", "12", "http://example.com/")
	if code != exitError || !strings.Contains(stderr, "--priority must be from 0 to 9") {
		t.Errorf("priority 12: exit %d, stderr:\n%s", code, stderr)
	}
	// No service, and no --wait-timeout to end the wait: NATS says nothing
	// reads the subject, and publish says so, with what to do.
	code, _, stderr = publish("--wait-timeout", "0", "http://example.com/")
	if want := "fetchstream: nothing reads --in fetch.urls and no stream stores it, so NATS dropped the batch; start the service (`fetchstream run`) and publish again\n"; code != exitError || stderr != want {
		t.Errorf("no service: exit %d, stderr %q; want %q", code, stderr, want)
	}
}

// --per-host-rate and --robots travel in the batch; a negative rate is refused.
func TestPublishPolitenessFlags(t *testing.T) {
	cfg := publishConfig{maxBatch: 10, perHostRate: 2, robots: true}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if b, err := cfg.batch(wire.Batch{URLs: wire.URLs("http://a")}, nil); err != nil || b.PerHostRate != 2 || !b.Robots {
		t.Errorf("batch %+v, want per_host_rate 2 and robots", b)
	}
	cfg.perHostRate = -1
	if err := cfg.validate(); err == nil {
		t.Error("a negative --per-host-rate was accepted")
	}
}

// -f reads every batch form (see readURLList), after the URLs given as
// arguments: a JSON array of URL strings, and a JSON object whose
// settings come with it, the flags able to repeat them but not to
// contradict them.
func TestPublishURLFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "arr.json")
	if err := os.WriteFile(path, []byte(` ["http://a", "http://b"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	urlsOf := func(b wire.Batch) (urls []string) {
		for _, r := range b.URLs {
			urls = append(urls, r.URL)
		}
		return urls
	}
	if got, err := collectURLs([]string{"http://first"}, path); err != nil || !slices.Equal(urlsOf(got), []string{"http://first", "http://a", "http://b"}) {
		t.Errorf("%q, %v; want the argument, then the array's two URLs", urlsOf(got), err)
	}
	if _, err := collectURLs(nil, ""); err == nil || !strings.Contains(err.Error(), "no URLs") {
		t.Errorf("no URLs: %v", err)
	}
	obj := filepath.Join(dir, "batch.json")
	if err := os.WriteFile(obj, []byte(`{"id": "b1", "urls": ["http://a", {"url": "http://b", "body": "own"}], "timeout_ms": 2000, "robots": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	list, err := collectURLs(nil, obj)
	if err != nil {
		t.Fatal(err)
	}
	cfg := publishConfig{maxBatch: 10, priority: optionalInt{n: 3, set: true}, timeoutMS: 2000, concurrency: 4}
	b, err := cfg.batch(list, []byte("flag body"))
	if err != nil || b.ID != "b1" || b.TimeoutMS != 2000 || !b.Robots || b.Concurrency != 4 || b.Priority == nil || *b.Priority != 3 ||
		string(b.URLs[0].Body) != `"flag body"` || string(b.URLs[1].Body) != `"own"` {
		t.Errorf("%+v, %v: want the file's settings, the flags', and --data for the item without a body", b, err)
	}
	cfg.timeoutMS = 500
	if _, err := cfg.batch(list, nil); err == nil || err.Error() != "--timeout-ms 500 and the file's timeout_ms 2000: give one" {
		t.Errorf("contradicting flag: %v", err)
	}
}

// publish takes flags after the URLs, as curl does: the batch holds the
// URLs alone and has the flags' settings; an unknown flag there is refused
// with its name, and nothing is published.
func TestPublishFlagsAfterURLs(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	batches := subscribe(t, nc, wire.DefaultInSubject)
	var stdout, stderr syncBuffer
	code := Main(t.Context(), []string{"publish", "--nats-url", url, "http://127.0.0.1:1/a", "--id", "after", "http://127.0.0.1:1/b", "--concurrency", "2"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	var b wire.Batch
	batches.next(&b, 5*time.Second)
	if b.ID != "after" || b.Concurrency != 2 || len(b.URLs) != 2 || b.URLs[0].URL != "http://127.0.0.1:1/a" || b.URLs[1].URL != "http://127.0.0.1:1/b" {
		t.Errorf("published batch %+v, want id after, concurrency 2 and the two URLs", b)
	}
	code, errText := runStderr(t, "publish", "--nats-url", url, "http://127.0.0.1:1/a", "--nosuch")
	if code != exitError || !strings.Contains(errText, "no flag --nosuch (see fetchstream publish -h)") {
		t.Errorf("unknown flag after a URL: exit %d, stderr %q", code, errText)
	}
	if m, err := batches.Sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Errorf("a batch was published despite the bad flag: %s", m.Data)
	}
}
