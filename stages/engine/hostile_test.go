package engine

import (
	"context"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// The same servers in one batch through the fetch stage with a single
// slot: each frees the slot when it ends, so the URL after them is fetched
// and the batch takes about the sum of the timeouts, no more.
func TestHostileServersFreeTheirSlot(t *testing.T) {
	h := fetchtest.NewHostile(t)
	silent := fetchtest.Silent(t)
	const timeout = 300 * time.Millisecond
	cases := h.Cases(silent)
	job := &stages.Job{ID: "hostile", Timeout: timeout, Start: time.Now()}
	slow := 0
	for _, c := range cases {
		job.Requests = append(job.Requests, wire.Request{URL: c.URL})
		if !c.Fast {
			slow++
		}
	}
	job.Requests = append(job.Requests, wire.Request{URL: h.URL("/json")})
	f := loopbackFetcher(t, 1)
	start := time.Now()
	results := runJob(t, f, FetchConfig{Concurrency: 1, Window: 4, MaxActive: 1}, job)
	took := time.Since(start)
	for i, c := range cases {
		if results[i].Error != c.Kind {
			t.Errorf("%s: got %q (%s), want %q", c.Name, results[i].Error, results[i].Message, c.Kind)
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

// runJob runs one job through a real fetch stage and returns its results
// in order.
func runJob(t *testing.T, fetcher URLFetcher, cfg FetchConfig, job *stages.Job) []wire.Result {
	t.Helper()
	return runJobs(t, fetcher, cfg, job)[job.ID]
}

// runJobs runs jobs through one real fetch stage and returns each job's
// results in order, by job ID.
func runJobs(t *testing.T, fetcher URLFetcher, cfg FetchConfig, jobs ...*stages.Job) map[string][]wire.Result {
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
			if e, ok := element.(*stages.Fetched); ok {
				results[e.Job.ID] = append(results[e.Job.ID], e.Result)
			}
		}
		done <- results
	}()
	select {
	case results := <-done:
		for _, job := range jobs {
			if len(results[job.ID]) != len(job.Requests) {
				t.Fatalf("job %s: %d results for %d URLs", job.ID, len(results[job.ID]), len(job.Requests))
			}
		}
		return results
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("the fetch stage did not finish the jobs")
		return nil
	}
}
