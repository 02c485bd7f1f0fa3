package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// countLogged counts the WARN and ERROR lines of the replicas' JSON
// logs, by level and message.
func countLogged(replicas []*replica) map[string]int {
	counts := map[string]int{}
	for _, r := range replicas {
		f, err := os.Open(r.log)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var line struct{ Level, Msg string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && (line.Level == "WARN" || line.Level == "ERROR") {
				counts[line.Level+" "+line.Msg]++
			}
		}
		f.Close()
	}
	return counts
}

// Clean says the run found nothing wrong: every acknowledged batch
// complete, once, in order, with a clean summary, none dead-lettered,
// the consumer drained and no replica exited unasked.
func (o *Outcome) Clean() bool {
	return o.Report.Clean() && o.DeadLetters == 0 && o.Drained && len(o.Exits) == 0
}

// Figures is the run's verdict in a few lines.
func (o *Outcome) Figures() string {
	r := o.Report
	var b strings.Builder
	fmt.Fprintf(&b, "batches: %d published, %d acknowledged by the input stream, %d never acknowledged\n", o.Published, r.Batches, o.Unacked)
	fmt.Fprintf(&b, "checked: %d complete, %d lost, %d incomplete (%d of %d results missing, %d without summary), "+
		"%d duplicated (%d extra copies), %d reordered (%d results out of order), %d dead-lettered (%d dead letters seen), "+
		"%d summaries with an error\n",
		r.Complete, r.Lost, r.Incomplete, r.ResultsMissing, r.ResultsOwed, r.NoSummary,
		r.Duplicated, r.DuplicateMessages, r.Reordered, r.ResultsReordered, r.DeadLettered, o.DeadLetters, r.SummaryError)
	fmt.Fprintf(&b, "consumer drained: %v (%d pending, %d unacknowledged); results stream held %d messages; replica exits unasked: %d\n",
		o.Drained, o.Pending, o.AckPending, o.StoredMsgs, len(o.Exits))
	return b.String()
}

// Print writes the figures, the events, the replicas' RSS and
// goroutines over time, the unasked exits, what the replicas logged at
// WARN and ERROR, and up to maxProblems batches that are not clean.
func (o *Outcome) Print(w io.Writer, maxProblems int) {
	fmt.Fprintf(w, "== figures (run took %s)\n%s", o.Elapsed.Round(time.Second), o.Figures())
	fmt.Fprintln(w, "== events")
	for _, e := range o.Events {
		fmt.Fprintln(w, e)
	}
	fmt.Fprintln(w, "== replicas over time: RSS MiB / goroutines (starts)")
	printSamples(w, o.Samples)
	if len(o.Exits) > 0 {
		fmt.Fprintln(w, "== replica exits nobody asked for")
		for _, e := range o.Exits {
			fmt.Fprintln(w, e)
		}
	}
	if len(o.Logged) > 0 {
		fmt.Fprintln(w, "== replicas' WARN and ERROR lines, by message")
		keys := make([]string, 0, len(o.Logged))
		for k := range o.Logged {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%6d  %s\n", o.Logged[k], k)
		}
	}
	if n := len(o.Report.Problems); n > 0 {
		fmt.Fprintf(w, "== batches not clean: %d (first %d)\n", n, min(n, maxProblems))
		for _, v := range o.Report.Problems[:min(n, maxProblems)] {
			fmt.Fprintln(w, v)
		}
	}
}

// printSamples is a table: a row per sampling time, a column per replica.
func printSamples(w io.Writer, samples []Sample) {
	var names []string
	rows := map[time.Duration]map[string]Sample{}
	var times []time.Duration
	for _, s := range samples {
		at := s.At.Round(time.Second)
		if !slices.Contains(names, s.Replica) {
			names = append(names, s.Replica)
		}
		if rows[at] == nil {
			rows[at] = map[string]Sample{}
			times = append(times, at)
		}
		rows[at][s.Replica] = s
	}
	slices.Sort(names)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "t")
	for _, n := range names {
		fmt.Fprint(tw, "\t"+n)
	}
	fmt.Fprintln(tw)
	for _, at := range times {
		fmt.Fprint(tw, at)
		for _, n := range names {
			if s, ok := rows[at][n]; ok {
				fmt.Fprintf(tw, "\t%.1f / %.0f (%d)", s.RSS/(1<<20), s.Goroutines, s.Starts)
			} else {
				fmt.Fprint(tw, "\t-")
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
