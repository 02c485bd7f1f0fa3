package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/wire"
)

// panickyFetcher panics on every URL that holds "panic", after a delay
// that puts it among its siblings in flight; other URLs succeed.
type panickyFetcher struct{}

func (panickyFetcher) Do(_ context.Context, req wire.Request, _ *wire.RequestOptions, _ time.Duration) wire.Result {
	rawURL := req.URL
	time.Sleep(time.Millisecond)
	if strings.Contains(rawURL, "panic") {
		panic(errors.New("fetcher bug on " + rawURL))
	}
	return wire.Result{URL: rawURL, Status: 200}
}

// panics records what OnPanic is told.
type panics struct {
	mu  sync.Mutex
	got []stages.Panic
}

func (p *panics) hook(x stages.Panic) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, x)
}

// A fetcher that panics on some URLs ends each of them as unexpected_error
// (saying it panicked, without a stack), told to OnPanic with the stack;
// the siblings, the other batches and the order are untouched, and the
// workers live on (more panics than workers).
func TestFetchRecoversFromAPanickingFetcher(t *testing.T) {
	seen := &panics{}
	run := startFetch(t, context.Background(), panickyFetcher{}, FetchConfig{Concurrency: 2, Window: 4, MaxActive: 4, OnPanic: seen.hook})
	var many []string
	for i := range 10 {
		many = append(many, fmt.Sprintf("http://x/panic/%d", i), fmt.Sprintf("http://x/ok/%d", i))
	}
	jobs := []*stages.Job{job("j1", time.Second, "http://x/a", "http://x/panic", "http://x/b"), job("j2", time.Second, "http://x/c"),
		job("j3", time.Second, many...)}
	for _, j := range jobs {
		run.stage.In() <- j
	}
	got := run.finish(t)
	dones := checkOrdered(t, got, jobs...)
	for _, e := range got {
		f, ok := e.(*stages.Fetched)
		if !ok {
			continue
		}
		r := f.Result
		if strings.Contains(r.URL, "panic") {
			if r.Error != wire.ErrUnexpected || !strings.Contains(r.Message, "panicked: fetcher bug on "+r.URL) ||
				strings.Contains(r.Message, "goroutine") {
				t.Errorf("%s: %q %q, want unexpected_error saying it panicked, without a stack", r.URL, r.Error, r.Message)
			}
		} else if r.Error != "" {
			t.Errorf("%s: %q %q, want success", r.URL, r.Error, r.Message)
		}
	}
	if s := dones["j1"].Summary; s.OK != 2 || s.Errors[wire.ErrUnexpected] != 1 {
		t.Errorf("j1 summary %+v, want 2 ok and 1 unexpected_error", s)
	}
	if s := dones["j3"].Summary; s.OK != 10 || s.Errors[wire.ErrUnexpected] != 10 {
		t.Errorf("j3 summary %+v, want 10 ok and 10 unexpected_error", s)
	}
	if len(seen.got) != 11 {
		t.Fatalf("stages.OnPanic told %d times, want 11", len(seen.got))
	}
	for _, p := range seen.got {
		if p.Stage != "fetch" || !strings.Contains(p.URL, "panic") || p.Index < 0 ||
			!strings.Contains(string(p.Stack), "panickyFetcher") {
			t.Errorf("panic %+v: want stage fetch, the URL, its index and a stack through the fetcher", p)
		}
	}
}

// panickyRobots is a RobotsFetcher whose robots.txt fetch panics.
type panickyRobots struct{ panickyFetcher }

func (panickyRobots) FetchRobots(context.Context, string, time.Duration) (int, []byte, wire.ErrorKind) {
	panic("robots bug")
}

// A robots.txt fetch that panics reads as no response (the site's URLs
// are disallowed for a while, as RFC 9309 says), and the panic is told to
// OnPanic, not swallowed: as the fetch stage's, Index -1, with the
// robots.txt URL and a stack through the fetcher.
func TestFetchTellsARobotsFetchPanic(t *testing.T) {
	seen := &panics{}
	run := startFetch(t, context.Background(), panickyRobots{},
		FetchConfig{Concurrency: 2, Window: 4, MaxActive: 4, Robots: true, OnPanic: seen.hook})
	j := job("j", time.Second, "http://x/a")
	run.stage.In() <- j
	got := run.finish(t)
	dones := checkOrdered(t, got, j)
	if s := dones["j"].Summary; s.Errors[wire.ErrRobotsDisallowed] != 1 {
		t.Errorf("summary %+v, want robots_disallowed", s)
	}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if len(seen.got) != 1 {
		t.Fatalf("stages.OnPanic told %d times, want once", len(seen.got))
	}
	if p := seen.got[0]; p.Stage != "fetch" || p.Index != -1 || p.URL != "http://x:80/robots.txt" ||
		!strings.Contains(string(p.Stack), "panickyRobots") {
		t.Errorf("panic (stage %q, index %d, URL %q): want stage fetch, index -1, the robots.txt URL and a stack through the fetcher",
			p.Stage, p.Index, p.URL)
	}
}
