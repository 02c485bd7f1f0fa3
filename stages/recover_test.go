package stages

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

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
	j := &Job{ID: "b1", Flow: "b1", Requests: wire.URLs("http://x/0", "http://x/1", "http://x/2"), Timeout: time.Second, Start: time.Now()}
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

// A panic in the Encoder's own fallback (here OnPanic's) is not swallowed:
// it leaves Encode, with nothing returned, so that the sink that called
// it still holds the *Fetched and puts the URL's unexpected_error in its
// place (connectors' TestPublisherReplacesAResultWhoseEncodePanicked).
func TestEncodeFallbackPanicLeavesEncode(t *testing.T) {
	defer func(fn func([]byte, *wire.Result, int) []byte) { fitResultFn = fn }(fitResultFn)
	fitResultFn = func([]byte, *wire.Result, int) []byte { panic("encoder bug") }
	enc, err := NewEncoder(EncodeConfig{MaxBytes: 1 << 16, OnPanic: func(Panic) { panic("hook bug") }})
	if err != nil {
		t.Fatal(err)
	}
	var out any
	got := func() (v any) {
		defer func() { v = recover() }()
		out = enc.Encode(&Fetched{Job: &Job{ID: "b"}, Result: wire.Result{BatchID: "b", URL: "http://x/"}})
		return nil
	}()
	if got != "hook bug" || out != nil {
		t.Errorf("Encode returned %v and panicked with %v; want the fallback's panic to leave it", out, got)
	}
}
