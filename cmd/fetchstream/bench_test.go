package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
)

// The bench runs end to end and prints its figures as JSON: here the
// latency scenario once, which starts NATS, the target and a service.
// No figure is held to a speed: only to what Little's law allows, which a
// correct bench cannot exceed.
func TestBenchPrintsFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the latency scenario: about 10 s")
	}
	figures := benchJSON(t, 2*time.Minute, "--scenarios", "latency", "--runs", "1")
	got := map[string]float64{}
	for _, f := range figures {
		got[f.Metric] = f.Median
	}
	if r, ok := got["ratio to the P/D limit (3.125 s)"]; !ok || r <= 0 || r > 1.0 {
		t.Errorf("ratio to P/D = %v (present: %v), want in (0, 1]: no scheduler beats Little's law", r, ok)
	}
	if rss := got["peak RSS at 64 in flight"]; rss <= 0 {
		t.Errorf("peak RSS at 64 in flight = %v MiB", rss)
	}
}

// The jetstream scenario compares the two modes on the same load, joins
// the NATS server it is given, and leaves no stream of its own behind.
func TestBenchJetStreamScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the jetstream scenario once: about 15 s")
	}
	url, nc := startNATS(t)
	figures := benchJSON(t, 3*time.Minute, "--nats-url", url, "--scenarios", "jetstream", "--runs", "1")
	if len(figures) != 7*len(jetStreamShapes) {
		t.Errorf("%d figures, want 7 per shape: %+v", len(figures), figures)
	}
	for _, f := range figures {
		if f.Median <= 0 {
			t.Errorf("%s = %v", f.Metric, f.Median)
		}
	}
	js, _ := jetstream.New(nc)
	for name := range js.StreamNames(t.Context()).Name() {
		if strings.HasPrefix(name, "BENCH_") {
			t.Errorf("the bench left its stream %s on the server", name)
		}
	}
}

// benchJSON runs `fetchstream bench --json` with args, failing the test
// after timeout, and returns the figures it printed.
func benchJSON(t *testing.T, timeout time.Duration, args ...string) []benchFigure {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, fetchstreamBinary(t), append(append([]string{"bench"}, args...), "--json")...).Output()
	if err != nil {
		t.Fatalf("bench: %v", err)
	}
	var report struct {
		Figures []benchFigure `json:"figures"`
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("bench output is not JSON: %v\n%s", err, out)
	}
	return report.Figures
}

// The bare-client child makes the requests it is told to, keeps its
// connections between runs, answers its peak RSS, and answers an unknown
// command with an error without dying; a malformed spec is refused.
func TestBareClientChild(t *testing.T) {
	var requests atomic.Int64
	target := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	conns := fetchtest.CountConns(target)
	target.Start()
	defer target.Close()
	child, err := startBareChild(t.Context(), fetchstreamBinary(t), target.URL+"/a,b", 5)
	if err != nil {
		t.Fatal(err)
	}
	defer child.stop()
	for range 2 {
		if took, err := child.run(15); err != nil || took <= 0 {
			t.Fatalf("run 15: %v, %v", took, err)
		}
	}
	if n := requests.Load(); n != 30 {
		t.Errorf("%d requests, want 2 runs × 15", n)
	}
	// Without keep-alive each request would have its own connection; the
	// transport may dial one or two more than the workers when a worker
	// asks before the previous response has handed its connection back.
	if n := conns.Load(); n >= 15 {
		t.Errorf("%d connections for 30 requests from 5 workers: connections were not kept", n)
	}
	if rss, err := child.peakRSS(); err != nil || rss < 1<<20 {
		t.Errorf("peak RSS %d, %v", rss, err)
	}
	if _, err := child.ask("fly"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: %v", err)
	}
	if err := child.stop(); err != nil {
		t.Errorf("child exit: %v", err)
	}
	if _, err := child.run(1); err == nil {
		t.Error("a stopped child answered")
	}

	cmd := exec.Command(fetchstreamBinary(t), "bench")
	cmd.Env = append(os.Environ(), bareChildEnv+"=http://x,many")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "want URL,WORKERS") {
		t.Errorf("malformed spec: err %v, output %q", err, out)
	}
}
