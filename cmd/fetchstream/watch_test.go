package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors/natstest"
)

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
