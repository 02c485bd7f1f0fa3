package chaostest_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors/chaostest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
)

// Each way a batch can go wrong, stored in a real stream and read back
// through ReadStream, is named by its verdict and counted once.
func TestCheckNamesEachWayABatchGoesWrong(t *testing.T) {
	_, nc := natstest.Start(t)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R",
		Subjects: []string{wire.DefaultResultsSubject, wire.DefaultBatchesSubject}}); err != nil {
		t.Fatal(err)
	}
	result := func(batch string, idx int) {
		t.Helper()
		data := fmt.Sprintf(`{"batch_id":%q,"index":%d,"count":3,"url":"http://x/"}`, batch, idx)
		if _, err := js.Publish(ctx, wire.DefaultResultsSubject, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	summary := func(batch, errKind string) {
		t.Helper()
		data := fmt.Sprintf(`{"batch_id":%q,"count":3,"error":%q}`, batch, errKind)
		if _, err := js.Publish(ctx, wire.DefaultBatchesSubject, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	// clean: 0 1 2 S. dup: 0 1 1 2 S S. reordered: 0 2 1 S. late: 0 1 S 2.
	// partial: 0 S(max_deliver). dead: 0 1 2 S, and a dead letter. lost: nothing.
	for _, i := range []int{0, 1, 2} {
		result("clean", i)
	}
	summary("clean", "")
	for _, i := range []int{0, 1, 1, 2} {
		result("dup", i)
	}
	summary("dup", "")
	summary("dup", "")
	for _, i := range []int{0, 2, 1} {
		result("reordered", i)
	}
	summary("reordered", "")
	result("late", 0)
	result("late", 1)
	summary("late", "")
	result("late", 2)
	result("partial", 0)
	summary("partial", "max_deliver")
	for _, i := range []int{0, 1, 2} {
		result("dead", i)
	}
	summary("dead", "")
	result("stranger", 0)

	stored, err := chaostest.ReadStream(ctx, js, "R", "", "")
	if err != nil {
		t.Fatal(err)
	}
	dead := chaostest.NewDeadLetters()
	letter := &nats.Msg{Subject: wire.DefaultDeadLetterSubject, Data: []byte(`{"id":"dead","urls":[]}`), Header: nats.Header{}}
	letter.Header.Set(nats.MsgIdHdr, "IN/6/dead")
	letter.Header.Set(wire.HeaderDeadKind, "max_deliver")
	letter.Header.Set(wire.HeaderDeadStream, "IN")
	letter.Header.Set(wire.HeaderDeadSeq, "6")
	dead.Add(letter)
	dead.Add(letter) // the same letter seen through a second node

	batch := func(id string, seq uint64) chaostest.Batch {
		return chaostest.Batch{ID: id, URLs: 3, Stream: "IN", Seq: seq}
	}
	r := chaostest.Check([]chaostest.Batch{batch("clean", 1), batch("dup", 2), batch("reordered", 3), batch("late", 4),
		batch("partial", 5), batch("dead", 6), batch("lost", 7)}, stored, dead)
	want := chaostest.Report{Batches: 7, Complete: 5, Lost: 1, Incomplete: 1, NoSummary: 1, SummaryError: 1, Duplicated: 1,
		Reordered: 2, DeadLettered: 1, ResultsOwed: 21, ResultsMissing: 5, ResultsReordered: 2, DuplicateMessages: 2, Strangers: 1}
	problems := r.Problems
	r.Problems = nil
	if !reflect.DeepEqual(r, want) {
		t.Errorf("report\n got %+v\nwant %+v", r, want)
	}
	var ids []string
	for _, v := range problems {
		ids = append(ids, v.ID)
	}
	if fmt.Sprint(ids) != "[dup reordered late partial dead lost]" {
		t.Errorf("problems: %v", ids)
	}
	if dead.Len() != 1 {
		t.Errorf("dead letters: %d, want 1 (the second copy is the same letter)", dead.Len())
	}
	if stored.Messages != 25 || stored.Skipped != 0 {
		t.Errorf("read %d messages (%d skipped), want 25", stored.Messages, stored.Skipped)
	}
}
