package connectors_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
)

// A set-up request nobody answers (here a subscriber on the JetStream API
// subject that never replies, as a stream without a leader does) is sent
// again, each try bounded, until the caller's context ends; the wait is
// logged once at warn, and the error says what it gave up on.
func TestSetupStepRetriesUnansweredRequestsWithinTheBound(t *testing.T) {
	t.Parallel()
	url := natstest.StartWithOptions(t, &server.Options{})
	nc := natstest.Connect(t, url)
	asked := make(chan struct{}, 100)
	if _, err := nc.Subscribe("$JS.API.STREAM.NAMES", func(*nats.Msg) { asked <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*connectors.SetupTryTimeout+time.Second)
	defer cancel()
	_, err = connectors.StreamOf(ctx, js, "fetch.results", log)
	if err == nil || !strings.Contains(err.Error(), "gave up waiting for") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("StreamOf = %v, want it to give up waiting once its context ended", err)
	}
	if n := len(asked); n < 2 {
		t.Errorf("the request was sent %d times, want it tried again after %s", n, connectors.SetupTryTimeout)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "waiting for JetStream to say which stream captures fetch.results") {
		t.Errorf("want one warning saying what it waits for, got %d:\n%s", n, logs.String())
	}
}

// What cannot pass fails at once, without waiting: a server without
// JetStream, a results stream over a subject another stream captures, and
// replicas a single server cannot place.
func TestSetupStepFailsAtOnceOnWhatWillNotPass(t *testing.T) {
	t.Parallel()
	nc := natstest.Connect(t, natstest.StartWithOptions(t, &server.Options{}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := connectors.EnsureResultsStream(ctx, nc, connectors.ResultsStreamConfig{Name: "OUT", Subjects: []string{"res"}}, discardLog())
	if err == nil || strings.Contains(err.Error(), "gave up") {
		t.Errorf("results stream on a server without JetStream: %v, want a failure at once", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if name, err := connectors.StreamOf(ctx, js, "res", discardLog()); name != "" || err != nil {
		t.Errorf("StreamOf on a server without JetStream = %q, %v; want none", name, err)
	}

	_, jnc := natstest.Start(t)
	jjs, err := jetstream.New(jnc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jjs.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"res"}}); err != nil {
		t.Fatal(err)
	}
	err = connectors.EnsureResultsStream(ctx, jnc, connectors.ResultsStreamConfig{Name: "OUT", Subjects: []string{"res.x", "res"}}, discardLog())
	if err == nil || strings.Contains(err.Error(), "gave up") {
		t.Errorf("results stream over a subject another stream captures: %v, want the server's refusal at once", err)
	}
	// Three replicas asked of one server: no server will join to place them.
	start := time.Now()
	err = connectors.EnsureResultsStream(ctx, jnc, connectors.ResultsStreamConfig{Name: "R3", Subjects: []string{"r3"}, Replicas: 3}, discardLog())
	if err == nil || strings.Contains(err.Error(), "gave up") || time.Since(start) > connectors.SetupTryTimeout {
		t.Errorf("an R3 stream on one server: %v after %s, want the server's refusal at once", err, time.Since(start))
	}
	if ctx.Err() != nil {
		t.Error("the bound ran out: a step waited for what will not pass")
	}
}
