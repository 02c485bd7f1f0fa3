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

// readingSink is a Sink that reads the stage before's output itself, as
// connectors' Publisher does.
type readingSink struct {
	in   chan any
	got  []any
	done chan struct{}
	read bool
}

func (s *readingSink) In() chan<- any { return s.in }

func (s *readingSink) ReadFrom(out <-chan any) bool {
	s.read = true
	go func() {
		defer close(s.done)
		for e := range out {
			s.got = append(s.got, e)
		}
	}()
	return true
}

func (s *readingSink) AwaitCompletion() { <-s.done }

// To hands Out to a sink that reads it itself: no relay goroutine, and
// the sink's In goes unused.
func TestFetchToHandsOverItsOutput(t *testing.T) {
	f, err := NewFetch(t.Context(), instantFetcher{}, FetchConfig{Concurrency: 2, Window: 2, MaxActive: 2})
	if err != nil {
		t.Fatal(err)
	}
	sink := &readingSink{in: make(chan any), done: make(chan struct{})}
	f.In() <- job("j", time.Second, "http://a/x")
	close(f.In())
	f.To(sink) // returns once the sink completed
	if !sink.read || len(sink.got) != 2 || sink.got[0].(*stages.Fetched).Result.URL != "http://a/x" {
		t.Fatalf("read %v, got %v; want the URL's result and the Done, read from Out", sink.read, sink.got)
	}
}
