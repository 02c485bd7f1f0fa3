package connectors_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

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
	// As the fetch stage counted it, before the encode stage's panic.
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
