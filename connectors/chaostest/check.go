// Package chaostest checks what a results stream holds against the
// batches a load generator had acknowledged by the input stream: every
// such batch complete (a result for each index 0..n-1 and a summary),
// each result and summary stored once, in batch order, and none of them
// on the dead-letter subject. It reads NATS and judges; it starts
// nothing and kills nothing, so it serves a chaos test on embedded
// servers as well as a soak on real processes. It imports only nats.go
// and wire.
package chaostest

import (
	"fmt"
	"strings"
)

// Batch is a batch the load generator published and JetStream
// acknowledged (its PubAck came back): what the service owes results for.
type Batch struct {
	ID     string // the batch id, as results carry it in batch_id
	URLs   int    // how many URLs it holds: results 0..URLs-1 are owed
	Stream string // the input stream that stored it (from the PubAck)
	Seq    uint64 // its sequence there, as a dead letter names it
}

// Verdict is what the stores hold of one batch.
type Verdict struct {
	Batch
	Results    int    // distinct indices stored
	Missing    int    // indices 0..URLs-1 not stored
	Duplicates int    // result and summary messages stored beyond the first of each
	Summaries  int    // summary messages stored (1 when all is well)
	SummaryErr string // the error the first summary carries (e.g. max_deliver), "" for none
	Reordered  bool   // first copies of its results not in index order, or its summary before a result
	OutOfOrder int    // results whose first copy was stored after that of a higher index, or after the summary
	Dead       int    // dead letters naming it
	DeadKind   string // the Fetch-Dead-Kind of the first of them
}

// Complete says every index and the summary are stored.
func (v Verdict) Complete() bool { return v.Missing == 0 && v.Summaries > 0 }

// Clean says the batch is complete, stored once, in order, with a
// summary without error, and not dead-lettered.
func (v Verdict) Clean() bool {
	return v.Complete() && v.Duplicates == 0 && !v.Reordered && v.Dead == 0 && v.SummaryErr == ""
}

// String names the batch and what is wrong with it, on one line.
func (v Verdict) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (seq %d): %d/%d results", v.ID, v.Seq, v.Results, v.URLs)
	if v.Summaries == 0 {
		b.WriteString(", no summary")
	}
	if v.SummaryErr != "" {
		fmt.Fprintf(&b, ", summary error %s", v.SummaryErr)
	}
	if v.Duplicates > 0 {
		fmt.Fprintf(&b, ", %d duplicates", v.Duplicates)
	}
	if v.Reordered {
		fmt.Fprintf(&b, ", %d results out of order", v.OutOfOrder)
	}
	if v.Dead > 0 {
		fmt.Fprintf(&b, ", dead-lettered %d× (%s)", v.Dead, v.DeadKind)
	}
	return b.String()
}

// Report sums up the verdicts on every acknowledged batch.
type Report struct {
	Batches      int // acknowledged batches checked
	Complete     int // every index and a summary stored
	Lost         int // nothing at all stored: no result, no summary
	Incomplete   int // something stored, but an index or the summary missing
	NoSummary    int // no summary stored (lost ones included)
	SummaryError int // a summary carrying an error, such as max_deliver
	Duplicated   int // batches with a result or summary stored more than once
	Reordered    int // batches whose results were stored out of order
	DeadLettered int // batches found on the dead-letter subject

	ResultsOwed       int // URLs of the acknowledged batches
	ResultsMissing    int // of those, not stored
	ResultsReordered  int // results stored out of order (Verdict.OutOfOrder summed)
	DuplicateMessages int // stored copies beyond the first
	Strangers         int // batches in the stores that are not in the list (publishes never acknowledged)

	// Problems holds the verdicts that are not Clean, in the order of the
	// list given to Check.
	Problems []Verdict
}

// Clean says every acknowledged batch is complete, once, in order, with
// a summary, and none dead-lettered.
func (r Report) Clean() bool { return r.Batches > 0 && len(r.Problems) == 0 }

// String is the report's figures on one line.
func (r Report) String() string {
	return fmt.Sprintf("%d acknowledged batches: %d complete, %d lost, %d incomplete (%d of %d results missing), "+
		"%d without summary, %d summaries with an error, %d duplicated (%d extra copies), %d reordered (%d results), %d dead-lettered",
		r.Batches, r.Complete, r.Lost, r.Incomplete, r.ResultsMissing, r.ResultsOwed, r.NoSummary, r.SummaryError,
		r.Duplicated, r.DuplicateMessages, r.Reordered, r.ResultsReordered, r.DeadLettered)
}

// Check judges every batch of acked against what stored and dead hold
// (dead may be nil: no dead letters seen).
func Check(acked []Batch, stored *Stored, dead *DeadLetters) Report {
	var r Report
	known := make(map[string]bool, len(acked))
	for _, b := range acked {
		known[b.ID] = true
		v := judge(b, stored.batches[b.ID], dead)
		r.Batches++
		r.ResultsOwed += b.URLs
		r.ResultsMissing += v.Missing
		r.DuplicateMessages += v.Duplicates
		r.ResultsReordered += v.OutOfOrder
		switch {
		case v.Complete():
			r.Complete++
		case v.Results == 0 && v.Summaries == 0:
			r.Lost++
		default:
			r.Incomplete++
		}
		if v.Summaries == 0 {
			r.NoSummary++
		}
		if v.SummaryErr != "" {
			r.SummaryError++
		}
		if v.Duplicates > 0 {
			r.Duplicated++
		}
		if v.Reordered {
			r.Reordered++
		}
		if v.Dead > 0 {
			r.DeadLettered++
		}
		if !v.Clean() {
			r.Problems = append(r.Problems, v)
		}
	}
	for id := range stored.batches {
		if !known[id] {
			r.Strangers++
		}
	}
	return r
}

// judge compares one batch with what the stream holds of it.
func judge(b Batch, s *storedBatch, dead *DeadLetters) Verdict {
	v := Verdict{Batch: b}
	if dead != nil {
		v.Dead, v.DeadKind = dead.of(b)
	}
	if s == nil {
		v.Missing = b.URLs
		return v
	}
	// firsts holds, in stream order, the index of each result's first copy.
	var firsts []int
	seen := map[int]bool{}
	for _, idx := range s.results {
		if seen[idx] {
			v.Duplicates++
			continue
		}
		seen[idx] = true
		firsts = append(firsts, idx)
	}
	for idx := range b.URLs {
		if !seen[idx] {
			v.Missing++
		}
	}
	v.Results = len(firsts)
	highest := -1
	for _, idx := range firsts {
		if idx < highest {
			v.OutOfOrder++
		}
		highest = max(highest, idx)
	}
	v.Summaries = len(s.summaries)
	if v.Summaries > 0 {
		v.Duplicates += v.Summaries - 1
		v.SummaryErr = s.summaryErr
		// The summary is stored after the batch's last result: a result
		// first stored after the summary's first copy was out of order.
		v.OutOfOrder += s.firstsAfter(s.summaries[0])
	}
	v.Reordered = v.OutOfOrder > 0
	return v
}
