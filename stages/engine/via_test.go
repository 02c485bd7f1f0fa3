package engine

import (
	"context"
	"testing"
	"time"

	"github.com/reugn/go-streams/flow"

	"github.com/fetchstream/fetchstream/stages"
)

// readingFlow is a Flow that reads the stage before's output itself.
type readingFlow struct {
	*flow.PassThrough
	from <-chan any
}

func (r *readingFlow) ReadFrom(out <-chan any) bool { r.from = out; return true }

// Via hands Out to a next stage that reads it itself (no relay goroutine
// between them), and relays to any other.
func TestFetchViaHandsOverItsOutput(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := NewFetch(ctx, instantFetcher{}, FetchConfig{Concurrency: 2, Window: 2, MaxActive: 2})
	if err != nil {
		t.Fatal(err)
	}
	next := &readingFlow{PassThrough: flow.NewPassThrough()}
	if f.Via(next) != next || next.from != f.Out() {
		t.Fatal("Via did not hand its output to a stage that reads it")
	}
	f.In() <- job("j", time.Second, "http://a/x")
	close(f.In())
	var got []any
	for e := range next.from {
		got = append(got, e)
	}
	if len(got) != 2 || got[0].(*stages.Fetched).Result.URL != "http://a/x" {
		t.Fatalf("got %v, want the URL's result and the Done", got)
	}
}
