package connectors_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
)

// buggyObserver panics when told of a failed publish, and when told that
// the batch "bad" is done.
type buggyObserver struct{}

func (buggyObserver) BatchDone(s *wire.Summary) {
	if s.BatchID == "bad" {
		panic("observer bug on the summary")
	}
}
func (buggyObserver) PublishFailed(string) { panic("observer bug on a failed publish") }

// A panic while publishing is recovered: a result goes out as its URL's
// unexpected_error in its place, counted so in the summary; a summary's
// panic still publishes the summary and leaves the batch unsettled for
// redelivery; the batches after them are published and settled.
func TestPublisherRecoversFromPanics(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	var (
		mu     sync.Mutex
		panics []stages.Panic
	)
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "out", Batches: "batches",
		Observer: buggyObserver{}, OnPanic: func(x stages.Panic) {
			mu.Lock()
			defer mu.Unlock()
			panics = append(panics, x)
		}})
	if err != nil {
		t.Fatal(err)
	}
	results, _ := nc.SubscribeSync("out")
	summaries, _ := nc.SubscribeSync("batches")
	_ = nc.Flush()

	// "big": its result 0 is over the max payload, so its publish fails and
	// the observer panics.
	big := &stages.Job{ID: "big", Requests: wire.URLs("http://x/0", "http://x/1")}
	p.In() <- &stages.Encoded{Job: big, Index: 0, Data: make([]byte, nc.MaxPayload()+1)}
	p.In() <- &stages.Encoded{Job: big, Index: 1, Data: []byte(`{"batch_id":"big","index":1}`)}
	p.In() <- &stages.Done{Job: big, Summary: wire.Summary{BatchID: "big", Count: 2, OK: 2}, Data: []byte(`{"batch_id":"big"}`)}
	bad := &stages.Job{ID: "bad", Requests: wire.URLs("http://x/"), Settle: newSettleRecord()}
	good := &stages.Job{ID: "good", Requests: wire.URLs("http://x/"), Settle: newSettleRecord()}
	feed(p, bad, 1, "b")
	feed(p, good, 1, "g")
	close(p.In())
	finished := make(chan struct{})
	go func() { p.AwaitCompletion(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(20 * time.Second):
		t.Fatal("the publisher did not finish")
	}

	var first wire.Result
	m, err := results.NextMsg(5 * time.Second)
	if err != nil || json.Unmarshal(m.Data, &first) != nil {
		t.Fatalf("no replacement result: %v", err)
	}
	if first.BatchID != "big" || first.Index != 0 || first.Count != 2 || first.URL != "http://x/0" ||
		first.Error != wire.ErrUnexpected || !strings.Contains(first.Message, "publishing the result panicked: observer bug") {
		t.Errorf("replacement result %+v", first)
	}
	for _, want := range []string{`"index":1`, `"batch_id":"bad"`, `"batch_id":"good"`} {
		if m, err := results.NextMsg(5 * time.Second); err != nil || !strings.Contains(string(m.Data), want) {
			t.Errorf("next result: %v, want %s", err, want)
		}
	}
	var bigSummary wire.Summary
	if m, err := summaries.NextMsg(5 * time.Second); err != nil || json.Unmarshal(m.Data, &bigSummary) != nil {
		t.Fatalf("no summary of big: %v", err)
	}
	if bigSummary.OK != 1 || bigSummary.Failed != 1 || bigSummary.Errors[wire.ErrUnexpected] != 1 {
		t.Errorf("summary of big %+v, want 1 ok and 1 unexpected_error", bigSummary)
	}
	for _, want := range []string{`"batch_id":"bad"`, `"batch_id":"good"`} {
		if m, err := summaries.NextMsg(5 * time.Second); err != nil || !strings.Contains(string(m.Data), want) {
			t.Errorf("next summary: %v, want %s", err, want)
		}
	}
	if bad.Settle.(*settleRecord).wait(t) {
		t.Error("the batch whose summary panicked was settled complete; want it handed back")
	}
	if !good.Settle.(*settleRecord).wait(t) {
		t.Error("the batch after the panics was not settled complete")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(panics) != 2 || panics[0].Stage != "publish" || panics[0].Index != 0 || panics[0].URL != "http://x/0" ||
		panics[1].BatchID != "bad" || panics[1].Index != -1 || !strings.Contains(string(panics[1].Stack), "buggyObserver") {
		t.Errorf("OnPanic told %+v", panics)
	}
}

// A batch that ran logs "batch done" without an empty error; a rejected
// one logs its error and message.
func TestPublisherLogsErrorOnlyWhenThereIsOne(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	logs := &logBuffer{}
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "out", Batches: "batches",
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	feed(p, &stages.Job{ID: "fine", Requests: wire.URLs("http://x/")}, 1, "b")
	rejected := &stages.Job{ID: "big"}
	p.In() <- &stages.Done{Job: rejected, Summary: wire.Summary{BatchID: "big", Count: 3, Error: wire.ErrBatchTooLarge, Message: "split it"},
		Data: []byte(`{"batch_id":"big"}`)}
	close(p.In())
	p.AwaitCompletion()
	lines := strings.Split(logs.String(), "\n")
	for _, line := range lines {
		switch {
		case strings.Contains(line, "batch_id=fine") && strings.Contains(line, "error="):
			t.Errorf("a batch that ran logs an error: %s", line)
		case strings.Contains(line, "batch_id=big") && !strings.Contains(line, "error=batch_too_large message=\"split it\""):
			t.Errorf("a rejected batch's log lacks its error: %s", line)
		}
	}
}

// The publisher counts the summary from the results it published, over
// the counts the Done came with: a result the encode stage replaced with
// unexpected_error after a panic (Kind set so) is counted as what went
// out, and the summary agrees with the results on the subject.
func TestPublisherCountsTheSummaryFromWhatItPublished(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "out", Batches: "batches"})
	if err != nil {
		t.Fatal(err)
	}
	results, _ := nc.SubscribeSync("out")
	summaries, _ := nc.SubscribeSync("batches")
	_ = nc.Flush()
	job := &stages.Job{ID: "b", Requests: wire.URLs("http://x/0", "http://x/1", "http://x/2", "http://x/3")}
	kinds := []wire.ErrorKind{"", wire.ErrUnexpected, wire.ErrTimeout, ""} // index 1's encoding panicked
	for i, kind := range kinds {
		r := wire.Result{BatchID: "b", Index: i, Count: 4, URL: job.Requests[i].URL, Error: kind}
		data, _ := json.Marshal(&r)
		p.In() <- &stages.Encoded{Job: job, Index: i, Kind: kind, Data: data}
	}
	// The fetch stage leaves the counts by kind at zero (they are the
	// publisher's); stale ones here, from before the encode stage's panic
	// made index 1 unexpected_error, must be overwritten by what went out.
	p.In() <- &stages.Done{Job: job, Summary: wire.Summary{BatchID: "b", Count: 4, OK: 3, Failed: 1,
		Errors: map[wire.ErrorKind]int{wire.ErrTimeout: 1}, ElapsedMS: 12}}
	rejected := &stages.Job{ID: "r", Err: &stages.BatchError{Kind: wire.ErrBatchTooLarge, Message: "split it", Count: 9}}
	p.In() <- &stages.Done{Job: rejected, Summary: wire.Summary{BatchID: "r", Count: 9, Error: wire.ErrBatchTooLarge, Message: "split it"}}
	close(p.In())
	p.AwaitCompletion()

	published := map[wire.ErrorKind]int{}
	for range kinds {
		var r wire.Result
		m, err := results.NextMsg(5 * time.Second)
		if err != nil || json.Unmarshal(m.Data, &r) != nil {
			t.Fatalf("result: %v", err)
		}
		published[r.Error]++
	}
	var got wire.Summary
	if m, err := summaries.NextMsg(5 * time.Second); err != nil || json.Unmarshal(m.Data, &got) != nil {
		t.Fatalf("summary: %v", err)
	}
	if got.OK != published[""] || got.Failed != len(kinds)-published[""] || len(got.Errors) != 2 ||
		got.Errors[wire.ErrUnexpected] != published[wire.ErrUnexpected] || got.Errors[wire.ErrTimeout] != published[wire.ErrTimeout] {
		t.Errorf("summary %+v, want the counts of the results published %v", got, published)
	}
	if got.BatchID != "b" || got.Count != 4 || got.ElapsedMS != 12 {
		t.Errorf("summary %+v lost the fetch stage's id, count or elapsed time", got)
	}
	var rej wire.Summary
	if m, err := summaries.NextMsg(5 * time.Second); err != nil || json.Unmarshal(m.Data, &rej) != nil {
		t.Fatalf("rejected summary: %v", err)
	}
	if rej.BatchID != "r" || rej.Count != 9 || rej.Error != wire.ErrBatchTooLarge || rej.OK != 0 || rej.Failed != 0 || rej.Errors != nil {
		t.Errorf("rejected summary %+v", rej)
	}
}

// An Encode that panics (in the Encoder's encoding, or in its own
// fallback) leaves the *stages.Fetched it was given: the publisher puts
// that URL's unexpected_error in its place, counts it in the summary, and
// a gathered reply still holds every index.
func TestPublisherReplacesAResultWhoseEncodePanicked(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	enc, err := stages.NewEncoder(stages.EncodeConfig{MaxBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	var told []stages.Panic
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "out", Batches: "batches",
		OnPanic: func(x stages.Panic) { told = append(told, x) }, // on the publisher's goroutine
		Encode: func(element any) any {
			if f, ok := element.(*stages.Fetched); ok && f.Result.Index == 1 {
				panic("encode bug")
			}
			return enc.Encode(element)
		}})
	if err != nil {
		t.Fatal(err)
	}
	results, _ := nc.SubscribeSync("out")
	summaries, _ := nc.SubscribeSync("batches")
	inbox := nats.NewInbox()
	replies, _ := nc.SubscribeSync(inbox)
	_ = nc.Flush()
	job := &stages.Job{ID: "b", Reply: inbox, Requests: wire.URLs("http://x/0", "http://x/1", "http://x/2")}
	for i, r := range job.Requests {
		p.In() <- &stages.Fetched{Job: job, Result: wire.Result{BatchID: "b", Index: i, Count: 3, URL: r.URL, Status: 200}}
	}
	p.In() <- &stages.Done{Job: job, Summary: wire.Summary{BatchID: "b", Count: 3}}
	close(p.In())
	p.AwaitCompletion()

	for i := range 3 {
		var r wire.Result
		m, err := results.NextMsg(5 * time.Second)
		if err != nil || json.Unmarshal(m.Data, &r) != nil {
			t.Fatalf("result %d: %v", i, err)
		}
		wantKind := wire.ErrorKind("")
		if i == 1 {
			wantKind = wire.ErrUnexpected
		}
		if r.Index != i || r.Error != wantKind || r.URL != job.Requests[i].URL {
			t.Errorf("result %d: %+v, want error %q", i, r, wantKind)
		}
		if i == 1 && (r.Count != 3 || !strings.Contains(r.Message, "encoding the result panicked: encode bug")) {
			t.Errorf("replacement result %+v", r)
		}
	}
	var s wire.Summary
	if m, err := summaries.NextMsg(5 * time.Second); err != nil || json.Unmarshal(m.Data, &s) != nil {
		t.Fatalf("summary: %v", err)
	}
	if s.Count != 3 || s.OK != 2 || s.Failed != 1 || s.Errors[wire.ErrUnexpected] != 1 {
		t.Errorf("summary %+v, want 2 ok and 1 unexpected_error of 3", s)
	}
	var reply []wire.Result
	if m, err := replies.NextMsg(5 * time.Second); err != nil || json.Unmarshal(m.Data, &reply) != nil {
		t.Fatalf("reply: %v", err)
	}
	if len(reply) != 3 || reply[1].Index != 1 || reply[1].Error != wire.ErrUnexpected {
		t.Errorf("reply %+v, want 3 results with index 1 as unexpected_error", reply)
	}
	if len(told) != 1 || told[0].Index != 1 || told[0].BatchID != "b" || told[0].URL != "http://x/1" {
		t.Errorf("OnPanic told %+v, want the panic at index 1", told)
	}
}

// panickyHandler is a slog.Handler that panics on records whose message
// starts with panicOn, and drops the rest.
type panickyHandler struct{ panicOn string }

func (h panickyHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h panickyHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.panicOn) {
		panic("log handler bug")
	}
	return nil
}
func (h panickyHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h panickyHandler) WithGroup(string) slog.Handler      { return h }

// A panic after batchDone decided to hold a batch back (cut short by a
// shutdown, to be delivered again) keeps to that rule: its recovery sends
// no summary and no reply now (the redelivery will), and hands the batch
// back.
func TestPublisherRecoveryHoldsBackALikeBatchDone(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "out", Batches: "batches",
		Logger: slog.New(panickyHandler{panicOn: "batch cut short"})})
	if err != nil {
		t.Fatal(err)
	}
	summaries, _ := nc.SubscribeSync("batches")
	inbox := nats.NewInbox()
	replies, _ := nc.SubscribeSync(inbox)
	_ = nc.Flush()
	cut := &stages.Job{ID: "cut", Reply: inbox, Requests: wire.URLs("http://x/0", "http://x/1"), Settle: newSettleRecord()}
	p.In() <- &stages.Encoded{Job: cut, Index: 0, Data: []byte(`{"batch_id":"cut","index":0}`)}
	p.In() <- &stages.Encoded{Job: cut, Index: 1, Kind: wire.ErrCanceled, Data: []byte(`{"batch_id":"cut","index":1}`)}
	p.In() <- &stages.Done{Job: cut, Summary: wire.Summary{BatchID: "cut", Count: 2}}
	good := &stages.Job{ID: "good", Requests: wire.URLs("http://x/"), Settle: newSettleRecord()}
	feed(p, good, 1, "g")
	close(p.In())
	p.AwaitCompletion()

	if cut.Settle.(*settleRecord).wait(t) {
		t.Error("the batch cut short was settled complete; want it handed back")
	}
	if m, err := summaries.NextMsg(5 * time.Second); err != nil || !strings.Contains(string(m.Data), `"batch_id":"good"`) {
		t.Fatalf("first summary: %v, want good's (none for the batch held back)", err)
	}
	if m, err := summaries.NextMsg(200 * time.Millisecond); err == nil {
		t.Errorf("a second summary %s; the batch held back must send none now", m.Data)
	}
	if m, err := replies.NextMsg(200 * time.Millisecond); err == nil {
		t.Errorf("a reply %s for the batch held back", m.Data)
	}
}

// An Encode that panics on a batch's Done (before batchDone began) does
// not lose the summary: the publisher counts, publishes and settles it as
// if Encode had passed the Done on, and OnPanic is told.
func TestPublisherFinishesABatchWhoseDoneEncodePanicked(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	var told []stages.Panic
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "out", Batches: "batches",
		OnPanic: func(x stages.Panic) { told = append(told, x) }, // on the publisher's goroutine
		Encode: func(element any) any {
			if _, ok := element.(*stages.Done); ok {
				panic("encode bug on a Done")
			}
			return element
		}})
	if err != nil {
		t.Fatal(err)
	}
	summaries, _ := nc.SubscribeSync("batches")
	_ = nc.Flush()
	job := &stages.Job{ID: "d", Requests: wire.URLs("http://x/0", "http://x/1"), Settle: newSettleRecord()}
	p.In() <- &stages.Encoded{Job: job, Index: 0, Data: []byte(`{"batch_id":"d","index":0}`)}
	p.In() <- &stages.Encoded{Job: job, Index: 1, Kind: wire.ErrTimeout, Data: []byte(`{"batch_id":"d","index":1}`)}
	p.In() <- &stages.Done{Job: job, Summary: wire.Summary{BatchID: "d", Count: 2}}
	close(p.In())
	p.AwaitCompletion()

	var s wire.Summary
	if m, err := summaries.NextMsg(5 * time.Second); err != nil || json.Unmarshal(m.Data, &s) != nil {
		t.Fatalf("summary: %v", err)
	}
	if s.BatchID != "d" || s.OK != 1 || s.Failed != 1 || s.Errors[wire.ErrTimeout] != 1 {
		t.Errorf("summary %+v, want 1 ok and 1 timeout", s)
	}
	if !job.Settle.(*settleRecord).wait(t) {
		t.Error("the batch was not settled complete")
	}
	if len(told) != 1 || told[0].BatchID != "d" || told[0].Index != -1 {
		t.Errorf("OnPanic told %+v, want the Done's panic", told)
	}
}
