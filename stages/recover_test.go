package stages

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

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
	got []Panic
}

func (p *panics) hook(x Panic) {
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
	jobs := []*Job{job("j1", time.Second, "http://x/a", "http://x/panic", "http://x/b"), job("j2", time.Second, "http://x/c"),
		job("j3", time.Second, many...)}
	for _, j := range jobs {
		run.stage.In() <- j
	}
	got := run.finish(t)
	dones := checkOrdered(t, got, jobs...)
	for _, e := range got {
		f, ok := e.(*Fetched)
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
		t.Fatalf("OnPanic told %d times, want 11", len(seen.got))
	}
	for _, p := range seen.got {
		if p.Stage != "fetch" || !strings.Contains(p.URL, "panic") || p.Index < 0 ||
			!strings.Contains(string(p.Stack), "panickyFetcher") {
			t.Errorf("panic %+v: want stage fetch, the URL, its index and a stack through the fetcher", p)
		}
	}
}

// A result whose encoding panics goes out as that URL's unexpected_error,
// in its place, with that Kind, which is what the sink's summary counts
// (connectors' TestPublisherCountsTheSummaryFromWhatItPublished); the
// Done passes through for the sink to count and encode.
func TestEncodeRecoversFromAPanic(t *testing.T) {
	defer func(fn func([]byte, *wire.Result, int) []byte) { fitResultFn = fn }(fitResultFn)
	fitResultFn = func(dst []byte, r *wire.Result, maxBytes int) []byte {
		if r.Index == 1 {
			panic("encoder bug")
		}
		return fitResult(dst, r, maxBytes)
	}
	seen := &panics{}
	flow, err := NewEncode(EncodeConfig{MaxBytes: 1 << 16, OnPanic: seen.hook})
	if err != nil {
		t.Fatal(err)
	}
	j := job("b1", time.Second, "http://x/0", "http://x/1", "http://x/2")
	go func() {
		for i, r := range j.Requests {
			flow.In() <- &Fetched{Job: j, Result: wire.Result{BatchID: "b1", Index: i, Count: 3, URL: r.URL, Status: 200}}
		}
		flow.In() <- &Done{Job: j, Summary: wire.Summary{BatchID: "b1", Count: 3, OK: 3}}
		close(flow.In())
	}()
	var out []any
	for e := range flow.Out() {
		out = append(out, e)
	}
	if len(out) != 4 {
		t.Fatalf("%d elements out, want 4", len(out))
	}
	for i := range 3 {
		e := out[i].(*Encoded)
		want := `"status":200`
		if i == 1 {
			want = `"batch_id":"b1","index":1,"count":3,"url":"http://x/1","error":"unexpected_error","message":"encoding the result panicked: encoder bug"`
		}
		wantKind := wire.ErrorKind("")
		if i == 1 {
			wantKind = wire.ErrUnexpected
		}
		if e.Index != i || e.Kind != wantKind || !strings.Contains(string(e.Data), want) {
			t.Errorf("result %d: kind %q, %s, want kind %q and to hold %s", i, e.Kind, e.Data, wantKind, want)
		}
	}
	if d := out[3].(*Done); d.Job != j || d.Data != nil || d.Summary.OK != 3 {
		t.Errorf("the Done came out as %+v, want it as it went in", d)
	}
	if len(seen.got) != 1 || seen.got[0].Stage != "encode" || seen.got[0].Index != 1 {
		t.Errorf("OnPanic told %+v, want one encode panic at index 1", seen.got)
	}
}
