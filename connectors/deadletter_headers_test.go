package connectors_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
)

// A batch published with JetStream's publish conditions (fetchstream
// publish and the Go client set Nats-Expected-Stream to the input's
// stream) reaches a dead-letter stream all the same: the conditions were
// the original publish's, and kept on the dead letter they would fail it
// (its stream is another) for ever. The batch's own headers stay.
func TestDeadLetterDropsThePublishConditions(t *testing.T) {
	t.Parallel()
	f := newJSFixture(t)
	ctx := context.Background()
	if _, err := f.js.CreateStream(ctx, jetstream.StreamConfig{Name: "DEAD", Subjects: []string{"dead"}}); err != nil {
		t.Fatal(err)
	}
	s, _ := f.source(4)
	f.publish(`{"urls": [`, nats.Header{"Nats-Expected-Stream": {"IN"}, wire.HeaderBatchID: {"b-1"}})
	in := next(t, s, 10*time.Second)
	settled := make(chan error, 1)
	go func() {
		settled <- in.Settle.Done(true, &stages.BatchError{Kind: wire.ErrInvalidBatch, Message: "not JSON"})
	}()
	select {
	case err := <-settled:
		if err != nil {
			t.Fatalf("dead-lettering: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the dead letter was not stored within 10s: a publish condition of the original batch refuses it")
	}
	stream, err := f.js.Stream(ctx, "DEAD")
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.GetLastMsgForSubject(ctx, "dead")
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("Nats-Expected-Stream") != "" || m.Header.Get(wire.HeaderBatchID) != "b-1" ||
		m.Header.Get(wire.HeaderDeadKind) != wire.DeadInvalidBatch {
		t.Errorf("dead letter headers %v: want no Nats-Expected-Stream, the batch id kept, the kind", m.Header)
	}
}
