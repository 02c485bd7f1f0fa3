package connectors_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/tracectx"
)

const budgetTraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// largestTrace is the trace context a hostile publisher can make the
// service echo at its largest: a tracestate of MaxTraceStateRead bytes,
// cut by Extract to MaxTraceState.
func largestTrace(t *testing.T) trace.SpanContext {
	t.Helper()
	// Kept: four members of 128 bytes, at most, that make exactly 512;
	// cut: a long one before them, and those after them.
	members := []string{"big=" + strings.Repeat("b", 200)}
	for i := range 4 {
		members = append(members, fmt.Sprintf("k%d=%s", i, strings.Repeat("v", 125-min(i/3, 1)*3)))
	}
	for i := range 20 {
		members = append(members, fmt.Sprintf("z%02d=%s", i, strings.Repeat("v", 100)))
	}
	state := strings.Join(members, ",")
	if len(state) > tracectx.MaxTraceStateRead {
		t.Fatalf("tracestate of %d bytes, over what is read", len(state))
	}
	sc := tracectx.Extract(nats.Header{"traceparent": {budgetTraceParent}, "tracestate": {state}})
	if n := len(sc.TraceState().String()); n != tracectx.MaxTraceState {
		t.Fatalf("echoed tracestate of %d bytes, want %d: the test proves nothing", n, tracectx.MaxTraceState)
	}
	return sc
}

// A result of exactly the max payload less ResultHeaderBytes, of the
// longest batch id and index, with the largest trace context a publisher
// can make the service echo, arrives whole: on the results subject (with
// a Nats-Msg-Id), on the changes subject and as a part of a streamed
// reply. Before the budget was explicit, such a result was lost while the
// summary counted it ok.
func TestResultOfMaxBytesWithLargestTraceArrives(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	inbox := nats.NewInbox()
	subs := map[string]*nats.Subscription{}
	for _, subject := range []string{"res", "chg", "sum", inbox} {
		sub, err := nc.SubscribeSync(subject)
		if err != nil {
			t.Fatal(err)
		}
		subs[subject] = sub
	}
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{
		Results: "res", Batches: "sum", Changes: "chg", MsgIDs: true})
	if err != nil {
		t.Fatal(err)
	}
	if connectors.ResultHeaderBytes != 899 {
		t.Errorf("ResultHeaderBytes is %d; docs/operations.md (Tracing) says 899", connectors.ResultHeaderBytes)
	}
	maxBytes := int(nc.MaxPayload()) - connectors.ResultHeaderBytes
	data := []byte(`{"body":"` + strings.Repeat("x", maxBytes-len(`{"body":""}`)) + `"}`)
	sc := largestTrace(t)
	job := &stages.Job{ID: strings.Repeat("i", wire.MaxIDLength), Reply: inbox, ReplyStream: true, Trace: sc}
	p.In() <- &stages.Encoded{Job: job, Index: math.MaxInt, Data: data, Changed: true}
	p.In() <- &stages.Done{Job: job, Summary: wire.Summary{BatchID: job.ID, Count: 1, OK: 1}, Data: []byte(`{"count":1,"ok":1}`)}
	for _, subject := range []string{"res", "chg", inbox} {
		msg, err := subs[subject].NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("the result of %d bytes not on %s: %v", len(data), subject, err)
		}
		if len(msg.Data) != maxBytes {
			t.Errorf("%s: %d bytes, want %d", subject, len(msg.Data), maxBytes)
		}
		if subject != "chg" && msg.Header.Get("tracestate") != sc.TraceState().String() {
			t.Errorf("%s: tracestate of %d bytes, want the %d echoed", subject, len(msg.Header.Get("tracestate")), len(sc.TraceState().String()))
		}
	}
	if _, err := subs["sum"].NextMsg(10 * time.Second); err != nil {
		t.Fatalf("summary: %v", err)
	}
	close(p.In())
	p.AwaitCompletion()
}
