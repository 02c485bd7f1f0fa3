package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/client"
)

// inputStream makes a stream capture the input subject, as
// `fetchstream run --jetstream` does.
func inputStream(t *testing.T, js jetstream.JetStream) jetstream.Stream {
	t.Helper()
	stream, err := js.CreateStream(deadline(t), jetstream.StreamConfig{Name: "FETCH_URLS", Subjects: []string{wire.DefaultInSubject}})
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

// A batch id used again inside the stream's duplicate window is an error
// at once: the stream drops the batch, and no summary would ever come.
func TestDuplicateInJetStream(t *testing.T) {
	_, nc := natstest.Start(t)
	js, _ := jetstream.New(nc)
	stream := inputStream(t, js)
	c := newClient(t, nc)

	sent, err := c.Send(deadline(t), wire.Batch{ID: "nightly", URLs: wire.URLs(urlList(3)...)})
	if err != nil || len(sent) != 1 || sent[0].ID != "nightly" {
		t.Fatalf("first send: %v, %+v", err, sent)
	}
	// A work-queue stream may have removed the batch since: the error
	// speaks of the window the id was published in, which it names.
	if _, err := c.Send(deadline(t), wire.Batch{ID: "nightly", URLs: wire.URLs(urlList(3)...)}); !errors.Is(err, client.ErrDuplicate) ||
		!strings.Contains(err.Error(), "published to stream FETCH_URLS within its duplicate window (2m0s)") || strings.Contains(err.Error(), "already holds") {
		t.Errorf("second send: %v, want ErrDuplicate naming the duplicate window", err)
	}
	start := time.Now()
	if _, err := c.GatherBatch(deadline(t), wire.Batch{ID: "nightly", URLs: wire.URLs(urlList(3)...)}); !errors.Is(err, client.ErrDuplicate) {
		t.Errorf("gather: %v, want ErrDuplicate", err)
	}
	if waited := time.Since(start); waited > testDeadline/2 {
		t.Errorf("the duplicate took %s to be told", waited)
	}
	info, err := stream.Info(deadline(t))
	if err != nil || info.State.Msgs != 1 {
		t.Errorf("the stream holds %d messages (%v), want 1", info.State.Msgs, err)
	}
}

// A service that answers but stops half way ends the wait at the wait
// timeout, which does not blame a missing service.
func TestWaitTimeout(t *testing.T) {
	ns, nc := natstest.Start(t)
	startResponder(t, ns.ClientURL(), &responder{stall: true})
	c := newClient(t, nc, client.WithWaitTimeout(300*time.Millisecond), client.WithNoServiceCheck(10*time.Millisecond, nil))
	g, err := c.Gather(deadline(t), urlList(3))
	if !errors.Is(err, client.ErrWaitTimeout) || errors.Is(err, client.ErrNoService) {
		t.Errorf("err %v, want ErrWaitTimeout alone", err)
	}
	if g == nil || g.Results[0].URL != urlList(1)[0] {
		t.Errorf("the result that came is not kept: %+v", g)
	}
}

// Ping sees a micro service reading the input subject, and tells a
// service that reads another subject from none; in JetStream mode it sees
// a consumer that pulls.
func TestPing(t *testing.T) {
	_, nc := natstest.Start(t)
	c := newClient(t, nc)
	other, err := micro.AddService(nc, micro.Config{Name: client.ServiceName, Version: "0.1.0", Metadata: map[string]string{"in": "other.urls"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(deadline(t)); !errors.Is(err, client.ErrNoService) {
		t.Errorf("with a service on another subject: %v, want ErrNoService", err)
	}
	svc, err := micro.AddService(nc, micro.Config{Name: client.ServiceName, Version: "0.1.0", Metadata: map[string]string{"in": wire.DefaultInSubject}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(deadline(t)); err != nil {
		t.Errorf("with a service on the subject: %v", err)
	}
	_ = svc.Stop()
	_ = other.Stop()

	js, _ := jetstream.New(nc)
	stream := inputStream(t, js)
	c = newClient(t, nc) // it learns of the stream afresh
	if err := c.Ping(deadline(t)); !errors.Is(err, client.ErrNoService) {
		t.Errorf("with a stream and no consumer: %v, want ErrNoService", err)
	}
	cons, err := stream.CreateOrUpdateConsumer(deadline(t), jetstream.ConsumerConfig{Durable: "fetchstream"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(deadline(t)); !errors.Is(err, client.ErrNoService) {
		t.Errorf("with a consumer that nobody pulls: %v, want ErrNoService", err)
	}
	pulling, cancel := context.WithCancel(deadline(t))
	defer cancel()
	go func() { _, _ = cons.Fetch(1, jetstream.FetchContext(pulling)) }()
	for ctx := deadline(t); ; {
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumWaiting > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := c.Ping(deadline(t)); err != nil {
		t.Errorf("with a consumer pulling: %v", err)
	}
}

// A reader that falls behind its buffer gets ErrSlowConsumer, not a hang
// on the results NATS dropped.
func TestSlowConsumer(t *testing.T) {
	ns, _ := natstest.Start(t)
	nc := natstest.Connect(t, ns.ClientURL(), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})) // quiet
	r := startResponder(t, ns.ClientURL(), &responder{})
	c := newClient(t, nc, client.WithBuffer(4))
	s, err := c.Publish(deadline(t), wire.Batch{URLs: wire.URLs(urlList(100)...)})
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var last error
	for _, err := range s.Results(deadline(t)) {
		if err != nil {
			last = err
			break
		}
		if got++; got == 1 {
			// Hold the reader until all 100 results have reached this
			// connection: the responder's flush puts them at the server,
			// ours reads up to a PONG that comes after them.
			for len(r.batches()) == 0 {
				time.Sleep(time.Millisecond)
			}
			if err := r.nc.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !errors.Is(last, client.ErrSlowConsumer) || got >= 100 {
		t.Errorf("after %d results: %v, want ErrSlowConsumer", got, last)
	}
}

// Canceling the context ends the wait with the context's error, and the
// loop's end leaves no subscription behind.
func TestContextCancel(t *testing.T) {
	ns, nc := natstest.Start(t)
	startResponder(t, ns.ClientURL(), &responder{stall: true})
	c := newClient(t, nc, client.WithNoServiceCheck(0, nil))
	if _, err := c.Send(deadline(t), wire.Batch{URLs: wire.URLs(urlList(1)...)}); err != nil { // the client's lookups are done
		t.Fatal(err)
	}
	before := nc.NumSubscriptions()
	ctx, cancel := context.WithCancel(deadline(t))
	defer cancel()
	s, err := c.Publish(ctx, wire.Batch{URLs: wire.URLs(urlList(3)...)})
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var last error
	for _, err := range s.Results(ctx) {
		if err != nil {
			last = err
			continue
		}
		got++
		cancel()
	}
	if got != 1 || !errors.Is(last, context.Canceled) {
		t.Errorf("after %d results: %v, want context.Canceled after one", got, last)
	}
	if n := nc.NumSubscriptions(); n != before {
		t.Errorf("%d subscriptions left, want %d", n, before)
	}
	for _, err := range s.Results(deadline(t)) {
		if !errors.Is(err, client.ErrUsed) {
			t.Errorf("a second Results: %v, want ErrUsed", err)
		}
	}
}

// A batch published twice (a redelivery) gives each result once; a
// summary that comes before one of its results says so instead of
// waiting for it.
func TestRepeatedAndMissingResults(t *testing.T) {
	ns, nc := natstest.Start(t)
	startResponder(t, ns.ClientURL(), &responder{redeliver: true})
	s, err := newClient(t, nc).Publish(deadline(t), wire.Batch{URLs: wire.URLs(urlList(3)...)})
	if err != nil {
		t.Fatal(err)
	}
	var positions []int
	for r, err := range s.Results(deadline(t)) {
		if err != nil {
			t.Fatal(err)
		}
		positions = append(positions, r.Position)
	}
	if fmt.Sprint(positions) != "[0 1 2]" || len(s.Summaries()) != 1 {
		t.Errorf("a redelivered batch yields positions %v and %d summaries, want [0 1 2] and 1", positions, len(s.Summaries()))
	}

	ns, nc = natstest.Start(t)
	startResponder(t, ns.ClientURL(), &responder{lose: 1})
	g, err := newClient(t, nc).Gather(deadline(t), urlList(3))
	if !errors.Is(err, client.ErrIncomplete) || g.Results[0].URL != urlList(1)[0] {
		t.Errorf("Gather with a result lost: %v, want ErrIncomplete after the first result", err)
	}
}

// A batch a stream holds with no service is not lost: the no-service
// error and the wait timeout say it stays stored, which run fetches it,
// and how to drop it.
func TestStoredBatchSaysItStays(t *testing.T) {
	_, nc := natstest.Start(t)
	js, _ := jetstream.New(nc)
	inputStream(t, js)
	_, err := newClient(t, nc, client.WithNoServiceCheck(10*time.Millisecond, nil)).Gather(deadline(t), urlList(1))
	if !errors.Is(err, client.ErrNoService) || !strings.Contains(err.Error(), "they stay stored, and are fetched when a `fetchstream run --jetstream` starts") ||
		!strings.Contains(err.Error(), "`nats stream purge -f FETCH_URLS`") {
		t.Errorf("no service: %v", err)
	}
	c := newClient(t, nc, client.WithWaitTimeout(300*time.Millisecond), client.WithNoServiceCheck(0, nil))
	_, err = c.GatherBatch(deadline(t), wire.Batch{ID: "kept", URLs: wire.URLs(urlList(1)...)})
	if !errors.Is(err, client.ErrWaitTimeout) ||
		!strings.Contains(err.Error(), "batch kept stays stored in stream FETCH_URLS, and is fetched when a `fetchstream run --jetstream` starts (to drop it instead: `nats stream rmm FETCH_URLS 2 -f`)") {
		t.Errorf("wait timeout: %v", err)
	}
}
