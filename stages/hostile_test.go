package stages

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// hostileCase is a misbehaving server and how a fetch of it must end.
type hostileCase struct {
	name    string
	url     string
	kind    wire.ErrorKind
	message string // in the result's message
	fast    bool   // ends well before the timeout
}

func hostileCases(h *fetchtest.Hostile, silent string) []hostileCase {
	return []hostileCase{
		{"trickled body", h.URL("/trickle"), wire.ErrTimeout, "no complete response within", false},
		{"never answers (HTTP)", h.URL("/hang"), wire.ErrTimeout, "no complete response within", false},
		{"never answers (TCP)", "http://" + silent + "/", wire.ErrTimeout, "no complete response within", false},
		{"TLS handshake never completes", "https://" + silent + "/", wire.ErrTimeout, "no complete response within", false},
		{"trickled headers", h.URL("/slow-headers"), wire.ErrTimeout, "no complete response within", false},
		{"endless headers", h.URL("/endless-headers"), wire.ErrTooLarge, "headers exceeded 65536 bytes", true},
		{"redirect loop", h.URL("/redirect-loop"), wire.ErrTooManyRedirects, "more than 10", true},
		{"not HTTP", h.URL("/garbage"), wire.ErrConnection, "malformed HTTP", true},
		{"reset", h.URL("/reset"), wire.ErrConnection, "connection reset", true},
		{"body cut short", h.URL("/cut-body"), wire.ErrConnection, "unexpected EOF", true},
		{"corrupt gzip", h.URL("/bad-gzip"), wire.ErrUnexpected, "gzip: invalid header", true},
	}
}

// Each hostile server ends as its kind, within the timeout plus a margin,
// or well before it when the failure is detectable.
func TestHostileServers(t *testing.T) {
	h := fetchtest.NewHostile(t)
	silent := fetchtest.Silent(t)
	const timeout = 500 * time.Millisecond
	for _, c := range hostileCases(h, silent) {
		t.Run(c.name, func(t *testing.T) {
			f := newTestFetcher(t, FetcherConfig{Policy: loopbackOnly})
			r, took := fetch(f, c.url, timeout)
			t.Logf("%s: %s in %s (%s)", c.name, r.Error, took.Round(time.Millisecond), r.Message)
			if r.Error != c.kind || !strings.Contains(r.Message, c.message) {
				t.Errorf("got %q (%s), want %q mentioning %q", r.Error, r.Message, c.kind, c.message)
			}
			limit := timeout + time.Second
			if c.fast {
				limit = timeout / 2
			}
			if took > limit {
				t.Errorf("took %s, want at most %s", took, limit)
			}
			if c.kind == wire.ErrTooManyRedirects && (r.Redirects != 10 || !strings.HasSuffix(r.FinalURL, "/redirect-loop")) {
				t.Errorf("redirects %d final_url %q, want 10 and the loop's URL", r.Redirects, r.FinalURL)
			}
		})
	}
}

// The same servers in one batch through the fetch stage with a single
// slot: each frees the slot when it ends, so the URL after them is fetched
// and the batch takes about the sum of the timeouts, no more.
func TestHostileServersFreeTheirSlot(t *testing.T) {
	h := fetchtest.NewHostile(t)
	silent := fetchtest.Silent(t)
	const timeout = 300 * time.Millisecond
	cases := hostileCases(h, silent)
	job := &Job{ID: "hostile", Timeout: timeout, Start: time.Now()}
	slow := 0
	for _, c := range cases {
		job.URLs = append(job.URLs, c.url)
		if !c.fast {
			slow++
		}
	}
	job.URLs = append(job.URLs, h.URL("/json"))
	f := newTestFetcher(t, FetcherConfig{Policy: loopbackOnly, Concurrency: 1})
	start := time.Now()
	results := runJob(t, f, FetchConfig{Concurrency: 1, Window: 4, MaxActive: 1}, job)
	took := time.Since(start)
	for i, c := range cases {
		if results[i].Error != c.kind {
			t.Errorf("%s: got %q (%s), want %q", c.name, results[i].Error, results[i].Message, c.kind)
		}
	}
	if last := results[len(cases)]; !last.OK() || string(last.Body) != `{"hello":"world","n":[1,2,3]}` {
		t.Errorf("the URL after the hostile ones: %+v", last)
	}
	if limit := time.Duration(slow)*timeout + 2*time.Second; took > limit {
		t.Errorf("batch took %s with one slot; %d timeouts of %s should take about %s", took, slow, timeout, time.Duration(slow)*timeout)
	}
	t.Logf("%d hostile URLs and one good one through one slot in %s", len(cases), took.Round(time.Millisecond))
}

// An endless gzip stream stops at the cap, counted in decoded bytes, fast
// and without decoding more than the cap.
func TestGzipBombBoundedByCap(t *testing.T) {
	h := fetchtest.NewHostile(t)
	const capBytes = 1 << 20
	f := newTestFetcher(t, FetcherConfig{Policy: loopbackOnly, MaxBody: capBytes})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, took := fetch(f, h.URL("/gzip-bomb"), 5*time.Second)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("gzip bomb: %q truncated=%v body_bytes=%d in %s, %d MiB allocated", r.Error, r.BodyTruncated, r.BodyBytes, took.Round(time.Millisecond), allocated>>20)
	if r.Error != "" || !r.BodyTruncated || r.BodyBytes != capBytes || r.ContentLength != 0 {
		t.Errorf("got %q truncated=%v body_bytes=%d content_length=%d; want ok, cut at %d decoded bytes, no declared length",
			r.Error, r.BodyTruncated, r.BodyBytes, r.ContentLength, capBytes)
	}
	if r.BodyEncoding != "base64" {
		t.Errorf("zeros are not text: body_encoding %q, want base64", r.BodyEncoding)
	}
	if took > 2*time.Second {
		t.Errorf("took %s; the cap should end it at once", took)
	}
	if allocated > 32<<20 {
		t.Errorf("%d MiB allocated for a %d MiB cap: the decoder is not bounded", allocated>>20, capBytes>>20)
	}
}

// runJob runs one job through a real fetch stage and returns its results
// in order.
func runJob(t *testing.T, fetcher URLFetcher, cfg FetchConfig, job *Job) []wire.Result {
	t.Helper()
	return runJobs(t, fetcher, cfg, job)[job.ID]
}

// runJobs runs jobs through one real fetch stage and returns each job's
// results in order, by job ID.
func runJobs(t *testing.T, fetcher URLFetcher, cfg FetchConfig, jobs ...*Job) map[string][]wire.Result {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stage, err := NewFetch(ctx, fetcher, cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for _, job := range jobs {
			stage.In() <- job
		}
		close(stage.In())
	}()
	done := make(chan map[string][]wire.Result)
	go func() {
		results := map[string][]wire.Result{}
		for element := range stage.Out() {
			if e, ok := element.(*Fetched); ok {
				results[e.Job.ID] = append(results[e.Job.ID], e.Result)
			}
		}
		done <- results
	}()
	select {
	case results := <-done:
		for _, job := range jobs {
			if len(results[job.ID]) != len(job.URLs) {
				t.Fatalf("job %s: %d results for %d URLs", job.ID, len(results[job.ID]), len(job.URLs))
			}
		}
		return results
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("the fetch stage did not finish the jobs")
		return nil
	}
}
