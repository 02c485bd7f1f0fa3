package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors/natstest"
)

// A summary's error counts read as kind=count, in order, not as a Go map.
func TestWatchPrintsErrorCounts(t *testing.T) {
	var buf bytes.Buffer
	printWatched(&buf, &nats.Msg{Data: []byte(`{"batch_id":"b1","count":4,"ok":1,"failed":3,"errors":{"timeout":2,"http_error":1},"elapsed_ms":12}`)}, true, false)
	if want := "batch b1 done: 4 URLs, 1 ok, 3 failed (http_error=1 timeout=2) in 12 ms\n"; buf.String() != want {
		t.Errorf("printed %q, want %q", buf.String(), want)
	}
	buf.Reset()
	printWatched(&buf, &nats.Msg{Data: []byte(`{"batch_id":"b2","count":1,"ok":1,"elapsed_ms":3}`)}, true, false)
	if want := "batch b2 done: 1 URLs, 1 ok, 0 failed in 3 ms\n"; buf.String() != want {
		t.Errorf("printed %q, want %q", buf.String(), want)
	}
}

// A failed result's row is followed by its message, indented; an
// http_error row stands alone.
func TestWatchPrintsFailureMessages(t *testing.T) {
	var buf bytes.Buffer
	printWatched(&buf, &nats.Msg{Data: []byte(`{"batch_id":"b1","index":0,"count":2,"url":"http://10.0.0.1/","error":"blocked","message":"destination 10.0.0.1 is private"}`)}, false, false)
	printWatched(&buf, &nats.Msg{Data: []byte(`{"batch_id":"b1","index":1,"count":2,"url":"http://a/","error":"http_error","status":404}`)}, false, false)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "blocked") || lines[1] != messageIndent+"destination 10.0.0.1 is private" ||
		!strings.Contains(lines[2], "http_error") {
		t.Errorf("printed:\n%s", buf.String())
	}
}

// When its buffer is full, watch says how many messages it missed, once.
func TestWatchSaysWhatItMissed(t *testing.T) {
	_, nc := natstest.Start(t)
	msgs := make(chan *nats.Msg, 1) // never read: the second message on is dropped
	sub, err := nc.ChanSubscribe("out", msgs)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		_ = nc.Publish("out", []byte("{}"))
	}
	_ = nc.Flush()
	missed := missedCounter{subs: []*nats.Subscription{sub}}
	var buf bytes.Buffer
	missed.report(&buf)
	if !strings.HasPrefix(buf.String(), "watch missed 9 messages") {
		t.Errorf("reported %q, want 9 missed", buf.String())
	}
	buf.Reset()
	missed.report(&buf)
	if buf.Len() != 0 {
		t.Errorf("reported again %q with nothing new missed", buf.String())
	}
}
