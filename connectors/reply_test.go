package connectors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/tracectx"
)

// A one-message reply whose results outgrow one message holds them only
// while they fit: the publisher's held reply bytes never pass the max
// payload, drop to nothing once the reply is settled as reply_too_large,
// and every result still goes out on the results subject.
func TestPublisherGatheredReplyStaysBounded(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	inbox := nats.NewInbox()
	replies, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	results, err := nc.SubscribeSync("res")
	if err != nil {
		t.Fatal(err)
	}
	_ = results.SetPendingLimits(-1, -1)
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "res", Batches: "sum"})
	if err != nil {
		t.Fatal(err)
	}
	max := nc.MaxPayload()
	body := strings.Repeat("x", 100<<10)
	n := int(3*max)/len(body) + 1 // three messages' worth
	feed(p, &stages.Job{ID: "big", Reply: inbox}, n, body)
	msg, err := replies.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var s wire.Summary
	if err := json.Unmarshal(msg.Data, &s); err != nil || s.Error != wire.ErrReplyTooLarge {
		t.Fatalf("reply %.200s (%v): want a summary settled as %s", msg.Data, err, wire.ErrReplyTooLarge)
	}
	for i := range n {
		if _, err := results.NextMsg(10 * time.Second); err != nil {
			t.Fatalf("result %d of %d not on the results subject: %v", i, n, err)
		}
	}
	close(p.In())
	p.AwaitCompletion()
	stats := p.Stats()
	t.Logf("%d results of %d KiB (%d MiB); reply bytes held at most %d (max payload %d)",
		n, len(body)>>10, n*len(body)>>20, stats.ReplyBytesPeak, max)
	if stats.ReplyBytesPeak > max || stats.ReplyBytesPeak == 0 {
		t.Errorf("reply bytes held at most %d, want from 1 to the max payload %d", stats.ReplyBytesPeak, max)
	}
	if stats.ReplyBytesHeld != 0 {
		t.Errorf("%d reply bytes still held after the batch", stats.ReplyBytesHeld)
	}
}

// A small gathered reply is the array of results and lets go of it after.
func TestPublisherGatheredReplyFits(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	inbox := nats.NewInbox()
	replies, _ := nc.SubscribeSync(inbox)
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "res", Batches: "sum"})
	if err != nil {
		t.Fatal(err)
	}
	feed(p, &stages.Job{ID: "small", Reply: inbox}, 3, "x")
	msg, err := replies.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got []wire.Result
	if err := json.Unmarshal(msg.Data, &got); err != nil || len(got) != 3 || got[2].Index != 2 {
		t.Fatalf("reply %s (%v): want the 3 results in order", msg.Data, err)
	}
	close(p.In())
	p.AwaitCompletion()
	if held := p.Stats().ReplyBytesHeld; held != 0 {
		t.Errorf("%d reply bytes still held after the batch", held)
	}
}

// receiveStreamedReply reads a streamed reply: results in order, then
// the summary, telling them apart by wire.HeaderReplyPart.
func receiveStreamedReply(t *testing.T, sub *nats.Subscription, timeout time.Duration) ([]wire.Result, wire.Summary, int) {
	t.Helper()
	var results []wire.Result
	bytes := 0
	for {
		msg, err := sub.NextMsg(timeout)
		if err != nil {
			t.Fatalf("streamed reply: after %d results: %v", len(results), err)
		}
		bytes += len(msg.Data)
		switch part := msg.Header.Get(wire.HeaderReplyPart); part {
		case wire.ReplyPartResult:
			var r wire.Result
			if err := json.Unmarshal(msg.Data, &r); err != nil {
				t.Fatal(err)
			}
			results = append(results, r)
		case wire.ReplyPartSummary:
			var s wire.Summary
			if err := json.Unmarshal(msg.Data, &s); err != nil {
				t.Fatal(err)
			}
			return results, s, bytes
		default:
			t.Fatalf("streamed reply message with %s %q: %.100s", wire.HeaderReplyPart, part, msg.Data)
		}
	}
}

// A streamed reply brings a batch whose results exceed the max payload:
// each result in order, then the summary.
func TestPublisherStreamedReplyOfABatchOverTheMaxPayload(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	inbox := nats.NewInbox()
	replies, _ := nc.SubscribeSync(inbox)
	_ = replies.SetPendingLimits(-1, -1)
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "res", Batches: "sum"})
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("y", 200<<10)
	n := int(2*nc.MaxPayload())/len(body) + 1
	feed(p, &stages.Job{ID: "streamed", Reply: inbox, ReplyStream: true}, n, body)
	got, s, bytes := receiveStreamedReply(t, replies, 10*time.Second)
	close(p.In())
	p.AwaitCompletion()
	if int64(bytes) <= nc.MaxPayload() {
		t.Fatalf("the reply was %d bytes, not over the max payload %d: the test proves nothing", bytes, nc.MaxPayload())
	}
	if len(got) != n || s.BatchID != "streamed" || s.Count != n {
		t.Fatalf("streamed reply: %d results and summary %+v, want %d and the batch's summary", len(got), s, n)
	}
	for i, r := range got {
		if r.Index != i {
			t.Fatalf("result %d has index %d: out of order", i, r.Index)
		}
	}
	if peak := p.Stats().ReplyBytesPeak; peak != 0 {
		t.Errorf("a streamed reply held %d bytes; it should hold none", peak)
	}
}

// In JetStream mode a batch names its reply subject in Fetch-Reply-To
// (a stream keeps no reply subject); the worker replies there after the
// batch, gathered or streamed.
func TestJetStreamModeRepliesToTheHeader(t *testing.T) {
	t.Parallel()
	ns, nc := natstest.Start(t)
	js, _ := jetstream.New(nc)
	startWorker(t, workerConfig{url: ns.ClientURL(), setup: clusterSetupR1(), results: "res"})
	for _, streamed := range []bool{false, true} {
		t.Run(fmt.Sprintf("streamed=%v", streamed), func(t *testing.T) {
			inbox := nats.NewInbox()
			sub, err := nc.SubscribeSync(inbox)
			if err != nil {
				t.Fatal(err)
			}
			h := nats.Header{wire.HeaderReplyTo: []string{inbox}}
			if streamed {
				h.Set(wire.HeaderReplyStream, "true")
			}
			publishRetrying(t, js, &nats.Msg{Subject: "in", Header: h,
				Data: []byte("http://sleep/30\nhttp://sleep/10\nhttp://sleep/20\n")})
			var got []wire.Result
			if streamed {
				var s wire.Summary
				got, s, _ = receiveStreamedReply(t, sub, 20*time.Second)
				if s.Count != 3 || s.OK != 3 {
					t.Errorf("summary %+v, want 3 ok", s)
				}
			} else {
				msg, err := sub.NextMsg(20 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(msg.Data, &got); err != nil {
					t.Fatalf("reply %s: %v", msg.Data, err)
				}
			}
			if len(got) != 3 || got[0].URL != "http://sleep/30" || got[2].Index != 2 {
				t.Fatalf("reply %+v: want the 3 results in batch order", got)
			}
		})
	}
}

func clusterSetupR1() connectors.ConsumerSetup {
	s := clusterSetup()
	s.Replicas = 1
	return s
}

// The micro fetch endpoint works in JetStream mode too: a direct
// request-reply beside the stream, answered with the ordered results.
func TestMicroEndpointInJetStreamMode(t *testing.T) {
	t.Parallel()
	ns, nc := natstest.Start(t)
	startWorker(t, workerConfig{url: ns.ClientURL(), setup: clusterSetupR1(), results: "res", microSubject: "svc.fetch"})
	msg, err := nc.Request("svc.fetch", []byte(`["http://sleep/20","http://sleep/5"]`), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got []wire.Result
	if err := json.Unmarshal(msg.Data, &got); err != nil || len(got) != 2 || got[0].URL != "http://sleep/20" || !got[1].OK() {
		t.Fatalf("reply %s (%v): want the 2 results in order", msg.Data, err)
	}
}

// A one-message reply is gathered within ResultHeaderBytes of the max
// payload, so the trace context added to it never makes it too large to
// send: one that fits to the byte arrives as the array of results, and
// one within 100 bytes of the max payload is settled as reply_too_large
// (before, it was gathered, then lost when the traceparent was added,
// and the requester timed out).
func TestGatheredReplyLeavesRoomForTraceHeaders(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "res", Batches: "sum"})
	if err != nil {
		t.Fatal(err)
	}
	sc := largestTrace(t)
	for _, c := range []struct {
		name     string
		size     int // of the one result's JSON
		tooLarge bool
	}{
		{"fits to the byte", int(nc.MaxPayload()) - connectors.ResultHeaderBytes - len("[]"), false},
		{"50 bytes short of max payload", int(nc.MaxPayload()) - 50 - len("[]"), true},
	} {
		inbox := nats.NewInbox()
		replies, err := nc.SubscribeSync(inbox)
		if err != nil {
			t.Fatal(err)
		}
		job := &stages.Job{ID: c.name, Reply: inbox, Trace: sc}
		data := `{"body":"` + strings.Repeat("x", c.size-len(`{"body":""}`)) + `"}`
		p.In() <- &stages.Encoded{Job: job, Index: 0, Data: []byte(data)}
		p.In() <- &stages.Done{Job: job, Summary: wire.Summary{BatchID: job.ID, Count: 1, OK: 1}, Data: []byte(`{"count":1,"ok":1}`)}
		msg, err := replies.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("%s: no reply: %v", c.name, err)
		}
		if tracectx.Extract(msg.Header).TraceID() != sc.TraceID() {
			t.Errorf("%s: reply traceparent %q, want the batch's trace", c.name, msg.Header.Get("traceparent"))
		}
		var s wire.Summary
		gotTooLarge := json.Unmarshal(msg.Data, &s) == nil && s.Error == wire.ErrReplyTooLarge
		if gotTooLarge != c.tooLarge || (!c.tooLarge && len(msg.Data) != c.size+len("[]")) {
			t.Errorf("%s: reply of %d bytes (%.80s), want reply_too_large %v", c.name, len(msg.Data), msg.Data, c.tooLarge)
		}
		_ = replies.Unsubscribe()
	}
	close(p.In())
	p.AwaitCompletion()
}
