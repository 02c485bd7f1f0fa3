package resulttable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/fetchstream/fetchstream/wire/client"
)

// Tally counts what Follow printed: results fetched (OK) or not
// (Failed), and batches the service rejected whole.
type Tally struct{ OK, Failed, Rejected int }

// Follow prints s's results in the list's order as they come, each row
// with the result's position in the whole list, and each rejected batch
// as a line; then, unless asJSON, "N ok, M failed in S" since start. The
// table's header comes with the first result or rejection, so an error
// before any (nothing took the batch) prints nothing on w.
// advance, when not nil, is called once per result (a progress bar). It
// returns the first error of s other than a rejected batch (the wait
// timeout, ctx's end), with what it counted until then.
func Follow(ctx context.Context, s *client.Stream, w io.Writer, asJSON bool, start time.Time, advance func()) (Tally, error) {
	var t Tally
	headed := asJSON // JSON lines have no header
	header := func() {
		if !headed {
			Header(w)
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
		Row(w, r.BatchID, strconv.Itoa(r.Position), r.Result)
	}
	if !asJSON {
		fmt.Fprintf(w, "%d ok, %d failed in %.2fs\n", t.OK, t.Failed, time.Since(start).Seconds())
	}
	return t, nil
}
