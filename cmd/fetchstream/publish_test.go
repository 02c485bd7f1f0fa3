package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

func TestSplitBatches(t *testing.T) {
	urls := make([]string, 25)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://example.com/%02d", i)
	}
	cases := []struct {
		name     string
		size     int
		maxBytes int64
		want     []int
	}{
		{"one batch", 100, 1 << 20, []int{25}},
		{"by count", 10, 1 << 20, []int{10, 10, 5}},
		{"by bytes", 100, 256 + 10*(int64(len(urls[0]))+8), []int{10, 10, 5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := splitBatches(urls, c.size, c.maxBytes, "crawl", 500)
			var sizes []int
			next := 0
			for i, b := range got {
				sizes = append(sizes, len(b.URLs))
				for _, item := range b.URLs {
					u := item.URL
					if u != urls[next] {
						t.Fatalf("batch %d has %s, want %s: order lost", i, u, urls[next])
					}
					next++
				}
				if len(got) > 1 && (b.ID != fmt.Sprintf("crawl-%d", i+1) || b.CorrelationID != "crawl") {
					t.Errorf("batch %d: id %q correlation %q", i, b.ID, b.CorrelationID)
				}
				if len(got) == 1 && (b.ID != "crawl" || b.CorrelationID != "") {
					t.Errorf("single batch: id %q correlation %q", b.ID, b.CorrelationID)
				}
				data, _ := json.Marshal(b)
				if int64(len(data)) > c.maxBytes {
					t.Errorf("batch %d is %d bytes, over %d", i, len(data), c.maxBytes)
				}
				if b.TimeoutMS != 500 {
					t.Errorf("batch %d lost its timeout", i)
				}
			}
			if fmt.Sprint(sizes) != fmt.Sprint(c.want) {
				t.Errorf("sizes %v, want %v", sizes, c.want)
			}
		})
	}
	if id := splitBatches([]string{"http://a"}, 1, 1<<20, "", 0)[0].ID; strings.TrimSpace(id) == "" {
		t.Error("no id made for an unnamed batch")
	}
}

// publish --wait prints the results in order and exits by the rule, in
// both modes; in JetStream mode the batch is stored with its id as
// Nats-Msg-Id, so publishing it again stores nothing new.
func TestPublishWait(t *testing.T) {
	for _, mode := range []string{"core", "jetstream"} {
		t.Run(mode, func(t *testing.T) {
			url, nc := startNATS(t)
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
			code, out = publish("some-failed", target.URL("/delay/50"), target.URL("/status/404"), "not a url")
			lines := strings.Split(out, "\n")
			if code != exitFailures || !strings.Contains(out, "1 ok, 2 failed") || len(lines) < 4 ||
				!strings.Contains(lines[1], "/delay/50") || !strings.Contains(lines[2], "http_error") || !strings.Contains(lines[3], "invalid_url") {
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
		})
	}
}
