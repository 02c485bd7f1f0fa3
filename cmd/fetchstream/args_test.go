package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

// Flags after the URLs are parsed as flags, not sent as URLs; "--" ends
// the flags; an unknown flag after a URL is an error naming it.
func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args, want []string
		json       bool
		id         string
	}{
		{args: []string{"http://a", "--json", "http://b"}, want: []string{"http://a", "http://b"}, json: true},
		{args: []string{"http://a", "--id", "x", "-", "--json"}, want: []string{"http://a", "-"}, json: true, id: "x"},
		{args: []string{"http://a", "--", "--json"}, want: []string{"http://a", "--json"}},
		{args: []string{"http://a", "--id", "x", "--", "--json"}, want: []string{"http://a", "--json"}, id: "x"},
		{args: nil, want: nil},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		asJSON := fs.Bool("json", false, "")
		id := fs.String("id", "", "")
		got, err := parseInterleaved(fs, tc.args)
		if err != nil || !slices.Equal(got, tc.want) || *asJSON != tc.json || *id != tc.id {
			t.Errorf("%q: %q, json %v, id %q, err %v; want %q, json %v, id %q", tc.args, got, *asJSON, *id, err, tc.want, tc.json, tc.id)
		}
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterleaved(fs, []string{"http://a", "--nosuch"}); err == nil {
		t.Error("an unknown flag after a URL was accepted")
	}
}

// publish takes flags after the URLs, as curl does: the batch holds the
// URLs alone and has the flags' settings; an unknown flag there is refused
// with its name, and nothing is published.
func TestPublishFlagsAfterURLs(t *testing.T) {
	url, nc := startNATS(t)
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
	if m, err := batches.sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Errorf("a batch was published despite the bad flag: %s", m.Data)
	}
}
