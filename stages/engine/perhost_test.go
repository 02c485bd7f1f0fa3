package engine

import (
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// PerHost caps one host's requests in flight across batches, and URLs to
// other hosts behind the capped ones start at once rather than wait.
func TestPerHostCap(t *testing.T) {
	slow, quick := fetchtest.NewTarget(t), fetchtest.NewTarget(t) // two host:ports
	f := loopbackFetcher(t, 8)
	const delay = 800 * time.Millisecond
	s := slow.URL("/delay/800")
	start := time.Now()
	first := &stages.Job{ID: "first", Timeout: 10 * time.Second, Start: start,
		Requests: wire.URLs(s, s, s, s, quick.URL("/delay/1"), quick.URL("/text"))}
	second := &stages.Job{ID: "second", Timeout: 10 * time.Second, Start: start,
		Requests: wire.URLs(s, s, quick.URL("/delay/1"))}
	results := runJobs(t, f, FetchConfig{Concurrency: 8, Window: 16, MaxActive: 4, PerHost: 2}, first, second)
	took := time.Since(start)

	if got := slow.MaxInFlight(); got != 2 {
		t.Errorf("the slow host saw %d requests in flight at most, want exactly the cap of 2", got)
	}
	for id, rs := range results {
		for i, r := range rs {
			if !r.OK() {
				t.Errorf("%s[%d]: %q %s", id, i, r.Error, r.Message)
			}
		}
	}
	// The quick host's URLs started before the slow host's first pair
	// finished, though they come after them in their batches.
	for _, r := range []struct {
		id    string
		index int
	}{{"first", 4}, {"first", 5}, {"second", 2}} {
		if waited := results[r.id][r.index].FetchedAt.Sub(start); waited > delay*3/4 {
			t.Errorf("%s[%d] to the quick host started after %s: it waited behind the slow host", r.id, r.index, waited)
		}
	}
	// Six slow URLs, two at a time: three rounds.
	if took < 3*delay || took > 3*delay+2*time.Second {
		t.Errorf("took %s, want about three rounds of %s", took, delay)
	}
}
