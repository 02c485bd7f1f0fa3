package bench

import (
	"bytes"
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

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
)

// The fetchstream binary, built once for the package's tests: the bench
// runs `fetchstream run` and `fetchstream bench client` from it.
var binary loadtest.Binary

func TestMain(m *testing.M) { os.Exit(binary.Run(m)) }

// measure runs the bench with cfg (one round, this package's binary),
// failing the test after timeout.
func measure(t *testing.T, timeout time.Duration, cfg Config) *Report {
	t.Helper()
	cfg.Executable = binary.Path(t)
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var log bytes.Buffer
	report, err := Measure(ctx, cfg, &log)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, log.String())
	}
	return report
}

// medians maps each metric to its median.
func medians(r *Report) map[string]float64 {
	got := map[string]float64{}
	for _, f := range r.Figures {
		got[f.Metric] = f.Median
	}
	return got
}

// The bench runs end to end: here the latency scenario once, which starts
// NATS, the target, the tuned and plain clients and a service. No figure is held to
// a speed: only to what Little's law allows, which a correct bench cannot
// exceed (each URL takes 100 ms, 64 at a time).
func TestBenchPrintsFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the latency scenario: about 10 s")
	}
	cfg := Defaults()
	cfg.Scenarios, cfg.Rounds = []string{"latency"}, 1
	got := medians(measure(t, 2*time.Minute, cfg))
	for _, metric := range []string{"ratio to the P/D limit (3.125s)", "ratio to the ceil(N/P)*D floor (3.2s)"} {
		if r, ok := got[metric]; !ok || r <= 0 || r > 1.0 {
			t.Errorf("%s = %v (present: %v), want in (0, 1]: no scheduler beats Little's law", metric, r, ok)
		}
	}
	for _, metric := range []string{"ratio to the tuned client in its own process (its time / ours)",
		"plain: ratio to the plain client in its own process (its time / ours)"} {
		if r := got[metric]; r <= 0 {
			t.Errorf("%s = %v", metric, r)
		}
	}
	if rss := got["service peak RSS at 64 in flight"]; rss <= 0 {
		t.Errorf("peak RSS at 64 in flight = %v MiB", rss)
	}
}

// The overhead and peers scenarios give every figure, each positive, on a
// small load; peers is skipped with a note where Python cannot run it.
func TestBenchOverheadAndPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the overhead and peers scenarios on a small load: about 15 s")
	}
	cfg := Defaults()
	cfg.Scenarios, cfg.Rounds, cfg.LatencyURLs, cfg.OverheadURLs = []string{"overhead", "peers"}, 1, 128, 400
	report := measure(t, 3*time.Minute, cfg)
	perScenario := map[string]int{}
	for _, f := range report.Figures {
		perScenario[f.Scenario]++
		if f.Median <= 0 || len(f.Values) != 1 {
			t.Errorf("%s %s = %v", f.Scenario, f.Metric, f.Values)
		}
	}
	if perScenario["overhead"] != 13 {
		t.Errorf("%d overhead figures, want 13", perScenario["overhead"])
	}
	if f := report.Figures[0]; f.Metric != "ratio of service CPU per URL to the tuned client's" || f.Target != "<= 1.5" {
		t.Errorf("first overhead figure %q (target %q), want the CPU ratio to the tuned client, held to <= 1.5", f.Metric, f.Target)
	}
	if n := perScenario["peers"]; n != 4*len(peers) && len(report.Notes) == 0 {
		t.Errorf("%d peers figures and no note, want %d", n, 4*len(peers))
	}
	t.Logf("peers: %d figures, notes %q", perScenario["peers"], report.Notes)
}

// The jetstream scenario compares the two modes on the same load, joins
// the NATS server it is given, and leaves no stream of its own behind.
// It runs as `fetchstream bench --json` (flags to Config, the report as
// JSON), outside the race detector: 20,000 batches through a server
// under -race would take minutes.
func TestBenchJetStreamScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the jetstream scenario once: about 15 s")
	}
	ns, nc := natstest.Start(t)
	figures := benchJSON(t, 3*time.Minute, "--nats-url", ns.ClientURL(), "--scenarios", "jetstream", "--rounds", "1")
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
func benchJSON(t *testing.T, timeout time.Duration, args ...string) []Figure {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, binary.Path(t), append(append([]string{"bench"}, args...), "--json")...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	var report Report
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("bench output is not JSON: %v\n%s", err, out)
	}
	return report.Figures
}

// Run prints the report as JSON when asked, and refuses a bad Config
// before it starts anything, naming the field.
func TestRunJSONAndConfigErrors(t *testing.T) {
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Rounds = 0 }, "Rounds"},
		{func(c *Config) { c.Scenarios = []string{"latency", "speed"} }, `unknown scenario "speed"`},
		{func(c *Config) { c.Scenarios = nil }, "Scenarios"},
		{func(c *Config) { c.OverheadURLs = 3 }, "OverheadURLs"},
		{func(c *Config) { c.LatencyURLs = 0 }, "LatencyURLs"},
	} {
		cfg := Defaults()
		c.edit(&cfg)
		err := Run(t.Context(), cfg, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", cfg, err, c.want)
		}
	}
	var out bytes.Buffer
	r := &Report{CPUs: 2, Go: "go", Rounds: 1, Figures: []Figure{figure("s", "m", "x", "", []float64{2, 1, 3})}}
	if err := r.WriteTable(&out); err != nil || !strings.Contains(out.String(), "1.000") {
		t.Errorf("table: %v\n%s", err, out.String())
	}
	if f := r.Figures[0]; f.Min != 1 || f.Median != 2 || f.Max != 3 {
		t.Errorf("figure of 2, 1, 3: %+v", f)
	}
	if data, err := json.Marshal(r); err != nil || !strings.Contains(string(data), `"median":2`) {
		t.Errorf("JSON: %s, %v", data, err)
	}
}

// The client child, `fetchstream bench client`, makes the requests it is
// told to, keeps its connections between runs, answers its peak RSS, and answers an unknown command with an
// error without dying; a bad flag is refused, naming it.
func TestClientChild(t *testing.T) {
	var requests atomic.Int64
	target := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	conns := fetchtest.CountConns(target)
	target.Start()
	defer target.Close()
	child, err := startClient(t.Context(), binary.Path(t), ClientConfig{URL: target.URL + "/a,b", Workers: 5, Transport: TunedTransport})
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
	if wall, cpu, err := child.measure(10); err != nil || wall <= 0 || cpu < 0 {
		t.Errorf("measure 10: %v, %v, %v", wall, cpu, err)
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

	plain, err := startClient(t.Context(), binary.Path(t), ClientConfig{URL: target.URL, Workers: 3, Transport: PlainTransport})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.run(6); err != nil {
		t.Errorf("plain client: %v", err)
	}
	if err := plain.stop(); err != nil {
		t.Errorf("plain client exit: %v", err)
	}

	for args, want := range map[string]string{
		"--url http://x --workers 0":                   "--workers",
		"--url x --workers 2":                          "--url",
		"--url http://x --workers 2 --transport fancy": "--transport",
		"--url http://x --workers many":                "--workers",
	} {
		out, err := exec.Command(binary.Path(t), append([]string{"bench", "client"}, strings.Fields(args)...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("bench client %s: err %v, output %q, want it to name %s", args, err, out, want)
		}
	}
}

// `fetchstream bench -h` documents the client child.
func TestBenchHelpNamesClient(t *testing.T) {
	out, _ := exec.Command(binary.Path(t), "bench", "-h").CombinedOutput()
	if !strings.Contains(string(out), "client") || !strings.Contains(string(out), "--rounds") {
		t.Errorf("bench -h:\n%s", out)
	}
}
