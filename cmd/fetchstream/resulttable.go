package main

// The result table: fetch results and batch summaries as the rows of
// fetchstream publish --wait and watch: one row per result as it arrives
// (fixed columns, since the table is never whole), a failure's message on
// the line under its row, and batch summaries as sentences. With JSON,
// each result is printed as its message came instead.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/client"
)

// rowFormat lays out a row: BATCH, #, STATUS, ERROR, MS, URL. Rows print
// as they arrive, so the columns have fixed widths rather than widths
// computed at the end; the URL, of any length, is last.
const rowFormat = "%-24s %5s %6s %-18s %7s  %s\n"

// messageIndent starts the line under a failed row that says why it
// failed, so that the columns above stay as they are.
const messageIndent = "    "

// tableHeader writes the table's header row.
func tableHeader(w io.Writer) {
	fmt.Fprintf(w, rowFormat, "BATCH", "#", "STATUS", "ERROR", "MS", "URL")
}

// tableRow writes r's row, batch and pos in the first columns, and for a
// failure with a message (every kind but http_error, whose status says
// it) that message on the next line, after messageIndent, on one line.
func tableRow(w io.Writer, batch, pos string, r wire.Result) {
	fmt.Fprintf(w, rowFormat, batch, pos, statusColumn(r.Status), r.Error, fmt.Sprintf("%.0f", r.ElapsedMS), r.URL)
	if r.Error != "" && r.Message != "" {
		fmt.Fprintf(w, "%s%s\n", messageIndent, strings.ReplaceAll(r.Message, "\n", " "))
	}
}

// statusColumn is an HTTP status as a column shows it: "-" for none.
func statusColumn(status int) string {
	if status == 0 {
		return "-"
	}
	return fmt.Sprint(status)
}

// printMessage prints one message of the results subject, or of the
// summaries subject when summary is set, as watch shows it: a result's
// row with "index/count" in the # column, a summary as a sentence, and
// with asJSON the message as it came. A message that does not decode is
// printed after "? ".
func printMessage(w io.Writer, data []byte, summary, asJSON bool) {
	if asJSON {
		fmt.Fprintln(w, string(data))
		return
	}
	if summary {
		var s wire.Summary
		if json.Unmarshal(data, &s) != nil {
			fmt.Fprintf(w, "? %s\n", data)
			return
		}
		if s.Error != "" {
			fmt.Fprintf(w, "batch %s rejected: %s: %s\n", s.BatchID, s.Error, s.Message)
			return
		}
		fmt.Fprintf(w, "batch %s done: %s, %d ok, %d failed%s in %.0f ms\n", s.BatchID, countURLs(s.Count), s.OK, s.Failed, errorCounts(s.Errors), s.ElapsedMS)
		return
	}
	var r wire.Result
	if json.Unmarshal(data, &r) != nil {
		fmt.Fprintf(w, "? %s\n", data)
		return
	}
	tableRow(w, r.BatchID, fmt.Sprintf("%d/%d", r.Index, r.Count), r)
}

// errorCounts is " (http_error=1 timeout=2)", by kind, or "" for none.
func errorCounts(errs map[wire.ErrorKind]int) string {
	if len(errs) == 0 {
		return ""
	}
	kinds := slices.Sorted(maps.Keys(errs))
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s=%d", k, errs[k]))
	}
	return " (" + strings.Join(parts, " ") + ")"
}

// countURLs is "1 URL" or "N URLs".
func countURLs(n int) string {
	if n == 1 {
		return "1 URL"
	}
	return fmt.Sprintf("%d URLs", n)
}

// followTally counts what followResults printed: results fetched (OK) or not
// (Failed), and batches the service rejected whole.
type followTally struct{ OK, Failed, Rejected int }

// followResults prints s's results in the list's order as they come, each row
// with the result's position in the whole list, and each rejected batch
// as a line; then, unless asJSON, "N ok, M failed in S" since start. The
// table's header comes with the first result or rejection, so an error
// before any (nothing took the batch) prints nothing on w.
// advance, when not nil, is called once per result (a progress bar). It
// returns the first error of s other than a rejected batch (the wait
// timeout, ctx's end), with what it counted until then.
func followResults(ctx context.Context, s *client.Stream, w io.Writer, asJSON bool, start time.Time, advance func()) (followTally, error) {
	var t followTally
	headed := asJSON // JSON lines have no header
	header := func() {
		if !headed {
			tableHeader(w)
			headed = true
		}
	}
	for r, err := range s.Results(ctx) {
		var be *client.BatchError
		switch {
		case errors.As(err, &be):
			header()
			t.Rejected++
			if asJSON {
				data, _ := json.Marshal(be.Summary)
				fmt.Fprintln(w, string(data))
			} else {
				fmt.Fprintf(w, "batch %s rejected: %s: %s\n", be.ID, be.Kind, be.Message)
			}
			continue
		case err != nil:
			return t, err
		case r.OK():
			t.OK++
		default:
			t.Failed++
		}
		if advance != nil {
			advance()
		}
		if asJSON {
			fmt.Fprintln(w, string(r.Raw))
			continue
		}
		header()
		tableRow(w, r.BatchID, strconv.Itoa(r.Position), r.Result)
	}
	if !asJSON {
		fmt.Fprintf(w, "%d ok, %d failed in %.2fs\n", t.OK, t.Failed, time.Since(start).Seconds())
	}
	return t, nil
}
