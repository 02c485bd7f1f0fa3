package resulttable

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/fetchstream/fetchstream/wire"
)

// Message prints one message of the results subject, or of the
// summaries subject when summary is set, as watch shows it: a result's
// row with "index/count" in the # column, a summary as a sentence, and
// with asJSON the message as it came. A message that does not decode is
// printed after "? ".
func Message(w io.Writer, data []byte, summary, asJSON bool) {
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
		fmt.Fprintf(w, "batch %s done: %s, %d ok, %d failed%s in %.0f ms\n", s.BatchID, URLs(s.Count), s.OK, s.Failed, errorCounts(s.Errors), s.ElapsedMS)
		return
	}
	var r wire.Result
	if json.Unmarshal(data, &r) != nil {
		fmt.Fprintf(w, "? %s\n", data)
		return
	}
	Row(w, r.BatchID, fmt.Sprintf("%d/%d", r.Index, r.Count), r)
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

// URLs is "1 URL" or "N URLs".
func URLs(n int) string {
	if n == 1 {
		return "1 URL"
	}
	return fmt.Sprintf("%d URLs", n)
}
