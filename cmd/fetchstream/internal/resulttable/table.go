// Package resulttable prints fetch results and batch summaries as the
// rows of fetchstream publish --wait and watch: one row per result as it
// arrives (fixed columns, since the table is never whole), a failure's
// message on the line under its row, and batch summaries as sentences.
// With JSON, each result is printed as its message came instead.
package resulttable

import (
	"fmt"
	"io"
	"strings"

	"github.com/fetchstream/fetchstream/wire"
)

// rowFormat lays out a row: BATCH, #, STATUS, ERROR, MS, URL. Rows print
// as they arrive, so the columns have fixed widths rather than widths
// computed at the end; the URL, of any length, is last.
const rowFormat = "%-24s %5s %6s %-18s %7s  %s\n"

// MessageIndent starts the line under a failed row that says why it
// failed, so that the columns above stay as they are.
const MessageIndent = "    "

// Header writes the table's header row.
func Header(w io.Writer) {
	fmt.Fprintf(w, rowFormat, "BATCH", "#", "STATUS", "ERROR", "MS", "URL")
}

// Row writes r's row, batch and pos in the first columns, and for a
// failure with a message (every kind but http_error, whose status says
// it) that message on the next line, after MessageIndent, on one line.
func Row(w io.Writer, batch, pos string, r wire.Result) {
	fmt.Fprintf(w, rowFormat, batch, pos, Status(r.Status), r.Error, fmt.Sprintf("%.0f", r.ElapsedMS), r.URL)
	if r.Error != "" && r.Message != "" {
		fmt.Fprintf(w, "%s%s\n", MessageIndent, strings.ReplaceAll(r.Message, "\n", " "))
	}
}

// Status is an HTTP status as a column shows it: "-" for none.
func Status(status int) string {
	if status == 0 {
		return "-"
	}
	return fmt.Sprint(status)
}
