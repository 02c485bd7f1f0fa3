package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/client"
)

// noService asserts that err is a *NoServiceError as want says.
func noService(t *testing.T, what string, err error, dropped bool, stream string) *client.NoServiceError {
	t.Helper()
	var e *client.NoServiceError
	if !errors.As(err, &e) || !errors.Is(err, client.ErrNoService) || e.Dropped != dropped || e.Stream != stream {
		t.Fatalf("%s: %v (%#v), want a NoServiceError with Dropped %v, Stream %q", what, err, e, dropped, stream)
	}
	if strings.Count(err.Error(), "fetchstream client:") != 1 {
		t.Errorf("%s: %q says the package's prefix more than once", what, err)
	}
	return e
}

// In core mode a batch that nothing subscribes to is gone: the wait ends
// at once, whatever the no-service check (off, or with a warning), with
// the reason, and the subjects the services read when one reads another.
func TestNoSubscriberEndsTheWaitAtOnce(t *testing.T) {
	_, nc := natstest.Start(t)
	warned := make(chan error, 10)
	for _, opt := range []client.Option{
		client.WithNoServiceCheck(0, nil),
		client.WithNoServiceCheck(time.Hour, func(err error) { warned <- err }),
	} {
		c := newClient(t, nc, opt, client.WithWaitTimeout(time.Hour))
		start := time.Now()
		_, err := c.Gather(deadline(t), urlList(2))
		noService(t, "no subscriber", err, true, "")
		if waited := time.Since(start); waited > testDeadline/2 {
			t.Errorf("the dropped batch took %s to be told", waited)
		}
	}
	other, err := micro.AddService(nc, micro.Config{Name: client.ServiceName, Version: "0.1.0", Metadata: map[string]string{"in": "other.urls"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Stop() }()
	_, err = newClient(t, nc, client.WithWaitTimeout(time.Hour)).Gather(deadline(t), urlList(1))
	if e := noService(t, "a service on another subject", err, true, ""); len(e.Others) != 1 || e.Others[0] != "other.urls" ||
		!strings.Contains(err.Error(), "fetchstream services read other.urls") {
		t.Errorf("the error does not name the subject the services read: %v", err)
	}
	if len(warned) != 0 {
		t.Errorf("%d warnings for a batch that was dropped", len(warned))
	}
}

// A subscriber that is no service (nats sub 'fetch.>') takes a core batch
// and never answers: the no-service check ends the wait, warning or not,
// as no stream keeps the batch for a service.
func TestNonServiceSubscriberEndsTheWaitAtTheCheck(t *testing.T) {
	_, nc := natstest.Start(t)
	if _, err := nc.SubscribeSync("fetch.>"); err != nil {
		t.Fatal(err)
	}
	warned := make(chan error, 10)
	c := newClient(t, nc, client.WithNoServiceCheck(50*time.Millisecond, func(err error) { warned <- err }), client.WithWaitTimeout(time.Hour))
	_, err := c.Gather(deadline(t), urlList(2))
	noService(t, "a listener that is no service", err, false, "")
	if len(warned) != 0 {
		t.Errorf("%d warnings: the error says it", len(warned))
	}
}

// A stream that stores the batch with no service consuming it is told
// once, as a warning, and the wait goes on (a service may come); without
// a warning function the wait ends with it.
func TestStoredBatchWithoutServiceWarnsOnce(t *testing.T) {
	_, nc := natstest.Start(t)
	js, _ := jetstream.New(nc)
	inputStream(t, js)
	c := newClient(t, nc, client.WithNoServiceCheck(50*time.Millisecond, nil))
	_, err := c.Gather(deadline(t), urlList(2))
	noService(t, "no warning function", err, false, "FETCH_URLS")

	warned := make(chan error, 10)
	c = newClient(t, nc, client.WithNoServiceCheck(50*time.Millisecond, func(err error) { warned <- err }),
		client.WithWaitTimeout(time.Second))
	_, err = c.Gather(deadline(t), urlList(2))
	if !errors.Is(err, client.ErrWaitTimeout) || !errors.Is(err, client.ErrNoService) {
		t.Errorf("Gather with a warning: %v, want ErrWaitTimeout and ErrNoService", err)
	}
	if err != nil && strings.Count(err.Error(), "fetchstream client:") != 1 {
		t.Errorf("Gather with a warning: %q says the package's prefix more than once", err)
	}
	if len(warned) != 1 {
		t.Fatalf("%d warnings, want one", len(warned))
	}
	noService(t, "the warning", <-warned, false, "FETCH_URLS")
}

// A service whose reply subjects refuse the client's inbox sends the
// refusal to the batches subject alone: the wait sees it there and ends
// that batch as rejected, at once, instead of at the wait timeout.
func TestRefusedInboxIsSeenOnTheBatchesSubject(t *testing.T) {
	ns, nc := natstest.Start(t)
	refuser := natstest.Connect(t, ns.ClientURL())
	other := wire.Summary{BatchID: "b1", Count: 1, Error: wire.ErrInvalidBatch, Message: "someone else's batch b1, refused"}
	_, err := refuser.Subscribe(wire.DefaultInSubject, func(m *nats.Msg) {
		b, _ := wire.DecodeBatch(m.Data, "")
		data, _ := json.Marshal(other) // another client's batch of the same id: not this one's
		_ = refuser.Publish(wire.DefaultBatchesSubject, data)
		data, _ = json.Marshal(wire.Summary{BatchID: b.ID, Count: len(b.URLs), Error: wire.ErrInvalidBatch,
			Message: fmt.Sprintf("the reply subject %q is outside the service's reply subjects", m.Header.Get(wire.HeaderReplyTo))})
		_ = refuser.Publish(wire.DefaultBatchesSubject, data)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := refuser.Flush(); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, nc, client.WithWaitTimeout(time.Hour), client.WithMaxBatch(1))
	_, err = c.GatherBatch(deadline(t), wire.Batch{ID: "b1", URLs: wire.URLs(urlList(2)...)})
	var be *client.BatchError
	if !errors.As(err, &be) || be.Kind != wire.ErrInvalidBatch || !strings.Contains(be.Message, "outside the service's reply subjects") {
		t.Fatalf("err %v, want the refusal as a BatchError", err)
	}
}

// A wait on which nothing comes tells what it waits for, every so often:
// in JetStream mode, the consumer's AckWait after which a batch held by a
// service that died comes again, and the time left.
func TestSilenceNotice(t *testing.T) {
	_, nc := natstest.Start(t)
	js, _ := jetstream.New(nc)
	stream := inputStream(t, js)
	cons, err := stream.CreateOrUpdateConsumer(deadline(t), jetstream.ConsumerConfig{Durable: "fetchstream", AckWait: 42 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	notices := make(chan client.Silence, 10)
	c := newClient(t, nc, client.WithWaitTimeout(time.Hour), client.WithNoServiceCheck(0, nil),
		client.WithSilenceNotice(100*time.Millisecond, func(s client.Silence) {
			select {
			case notices <- s:
			default:
			}
		}))
	s, err := c.Publish(deadline(t), wire.Batch{ID: "quiet", URLs: wire.URLs(urlList(1)...)})
	if err != nil {
		t.Fatal(err)
	}
	// A service takes the batch and dies holding it.
	if _, err := cons.Fetch(1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	go func() {
		for range s.Results(ctx) {
		}
	}()
	var got client.Silence
	for got.AckWait == 0 {
		select {
		case got = <-notices:
		case <-ctx.Done():
			t.Fatalf("no notice naming the AckWait; last %+v", got)
		}
	}
	if got.AckWait != 42*time.Second || got.Stream != "FETCH_URLS" || got.Batches != 1 || got.First != "quiet" ||
		got.For < 100*time.Millisecond || got.Left <= 0 || got.Left > time.Hour {
		t.Errorf("notice %+v", got)
	}
}

// A client started before the service's stream exists (they often start
// together) finds the stream once it is there: "no stream" is not kept
// for the client's life, so its later batches are stored, not published
// as core NATS into nothing.
func TestClientFindsAStreamCreatedAfterIt(t *testing.T) {
	_, nc := natstest.Start(t)
	js, _ := jetstream.New(nc)
	c := newClient(t, nc, client.WithNoServiceCheck(50*time.Millisecond, nil))
	_, err := c.Gather(deadline(t), urlList(1))
	noService(t, "before the stream", err, true, "")
	stream := inputStream(t, js)
	time.Sleep(1100 * time.Millisecond) // past the client's recheck of "no stream"
	_, err = c.Gather(deadline(t), urlList(1))
	noService(t, "once the stream exists", err, false, "FETCH_URLS")
	info, err := stream.Info(deadline(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("the stream holds %d batches, want the one published after it was made", info.State.Msgs)
	}
}

// A batch that left a work-queue stream while its end never came (the
// service ended it while the client was reconnecting, say) is not waited
// for: the next silent check finds the stream no longer holds it and ends
// the wait with ErrLeftStream, saying where its end went. Before that,
// the notices tell a batch waiting in the stream from one a service took.
func TestSilentWaitEndsWhenTheBatchLeftTheStream(t *testing.T) {
	_, nc := natstest.Start(t)
	js, _ := jetstream.New(nc)
	stream, err := js.CreateStream(deadline(t), jetstream.StreamConfig{Name: "FETCH_URLS", Subjects: []string{wire.DefaultInSubject},
		Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.CreateOrUpdateConsumer(deadline(t), jetstream.ConsumerConfig{Durable: "fetchstream", AckWait: 42 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	notices := make(chan client.Silence, 100)
	c := newClient(t, nc, client.WithWaitTimeout(time.Hour), client.WithNoServiceCheck(0, nil),
		client.WithSilenceNotice(100*time.Millisecond, func(s client.Silence) {
			select {
			case notices <- s:
			default:
			}
		}))
	s, err := c.Publish(deadline(t), wire.Batch{ID: "missed", URLs: wire.URLs(urlList(1)...)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ended := make(chan error, 1)
	go func() {
		for _, err := range s.Results(ctx) {
			if err != nil {
				ended <- err
				return
			}
		}
		ended <- nil
	}()
	next := func(want func(client.Silence) bool) client.Silence {
		t.Helper()
		for {
			select {
			case got := <-notices:
				if want(got) {
					return got
				}
			case <-ctx.Done():
				t.Fatal("no such notice")
			}
		}
	}
	if got := next(func(s client.Silence) bool { return s.Held }); got.Taken || got.AckWait != 0 {
		t.Errorf("the batch in the stream, not delivered: %+v", got)
	}
	msgs, err := cons.Fetch(1)
	if err != nil {
		t.Fatal(err)
	}
	msg := <-msgs.Messages()
	if got := next(func(s client.Silence) bool { return s.Taken }); !got.Held || got.AckWait != 42*time.Second {
		t.Errorf("the batch delivered: %+v", got)
	}
	// The service ends it; its summary went where this wait did not hear.
	if err := msg.DoubleAck(deadline(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, client.ErrLeftStream) || !strings.Contains(err.Error(), "batch missed has left stream FETCH_URLS") ||
			!strings.Contains(err.Error(), "fetchstream watch") || !strings.Contains(err.Error(), wire.DefaultDeadLetterSubject) {
			t.Errorf("the wait ended with %v, want ErrLeftStream saying where the end went", err)
		}
	case <-ctx.Done():
		t.Fatal("the wait went on for a batch the stream no longer holds")
	}
}

// A core-mode client asks again, every second, whether a stream captures
// the input subject now; when JetStream does not answer that question
// (a meta leader election, an API that times out), the client keeps its
// last answer and publishes on core NATS at once. Before, each such
// publish waited 5s for the look-up and then failed, though core NATS
// was fine.
func TestCoreClientPublishesWhileJetStreamDoesNotAnswer(t *testing.T) {
	url := natstest.StartWithOptions(t, &server.Options{}) // no JetStream: "none" at once
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got := make(chan *nats.Msg, 10)
	if _, err := nc.ChanSubscribe(wire.DefaultInSubject, got); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, nc)
	if _, err := c.Send(deadline(t), wire.Batch{URLs: wire.URLs(urlList(1)...)}); err != nil {
		t.Fatal(err)
	}
	// JetStream stops answering (a subscriber that never replies, as an
	// API without a meta leader).
	if _, err := nc.Subscribe("$JS.API.>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past the recheck
	start := time.Now()
	if _, err := c.Send(deadline(t), wire.Batch{URLs: wire.URLs(urlList(1)...)}); err != nil {
		t.Fatalf("publish while JetStream does not answer: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the publish took %s", took)
	}
	for range 2 {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("a batch did not arrive")
		}
	}
}

// A wait reads the batches subject for a refusal of its inbox for at most
// client.RefusalWindow, so that clients waiting on a backlog do not each
// copy every summary on the bus for the whole wait.
func TestRefusalReadingIsBounded(t *testing.T) {
	t.Parallel()
	srv, nc := natstest.Start(t)
	js, _ := jetstream.New(nc)
	inputStream(t, js) // it holds the batch; nothing consumes it, nothing replies
	interest := func() int {
		subs, err := srv.Subsz(&server.SubszOptions{Subscriptions: true, Test: wire.DefaultBatchesSubject})
		if err != nil {
			t.Fatal(err)
		}
		return subs.Total
	}
	c := newClient(t, nc, client.WithNoServiceCheck(time.Hour, func(error) {}),
		client.WithWaitTimeout(client.RefusalWindow+5*time.Second))
	ended := make(chan error, 1)
	go func() {
		_, err := c.Gather(context.Background(), urlList(1))
		ended <- err
	}()
	start := time.Now()
	for interest() == 0 {
		if time.Since(start) > testDeadline {
			t.Fatal("the wait never read the batches subject")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for interest() != 0 {
		if time.Since(start) > client.RefusalWindow+3*time.Second {
			t.Fatalf("the wait still reads the batches subject after %s", time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := <-ended; !errors.Is(err, client.ErrWaitTimeout) {
		t.Errorf("the wait ended with %v, want its timeout", err)
	}
}
