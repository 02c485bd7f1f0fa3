package service

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// opsAddr is the service's ops endpoint as a base URL.
func opsAddr(s *testService) string { return "http://" + s.OpsAddr().String() }

// gauge reads one series (name with its labels, as /metrics prints it)
// from the service's /metrics at ops; a series not there fails the test.
func gauge(t *testing.T, ops, series string) float64 {
	t.Helper()
	_, body := get(t, ops+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if value, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("no %s in /metrics:\n%s", series, body)
	return 0
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestMetricsHealthAndReadiness(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	s := start(t, url, func(c *Config) {
		c.Ops.MetricsAddr, c.Fetch.Retries, c.Fetch.RetryBase = "127.0.0.1:0", 1, 10*time.Millisecond
	})
	ops := opsAddr(s)
	if code, _ := get(t, ops+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get(t, ops+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d %s", code, body)
	}
	data, _ := json.Marshal([]string{target.URL("/text"), target.URL("/status/404"), "bad url", target.URL("/status/503")})
	if _, err := nc.Request(wire.DefaultInSubject, data, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Request(wire.DefaultInSubject, []byte("{"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	_, body := get(t, ops+"/metrics")
	for _, want := range []string{
		`fetchstream_results_total{outcome="ok"} 1`,
		`fetchstream_results_total{outcome="http_error"} 2`,
		`fetchstream_retries_total 1`,
		`fetchstream_results_total{outcome="invalid_url"} 1`,
		`fetchstream_request_duration_seconds_count{outcome="ok"} 1`,
		`fetchstream_requests_in_flight 0`,
		`fetchstream_batches_total{outcome="done"} 1`,
		`fetchstream_batches_total{outcome="invalid_batch"} 1`,
		`fetchstream_batch_duration_seconds_count 1`,
		`fetchstream_input_pending_messages 0`,
		`fetchstream_nats_reconnects_total 0`,
		`fetchstream_slow_consumer_events_total 0`,
		`fetchstream_panics_total{stage="fetch"} 0`,
		`fetchstream_panics_total{stage="encode"} 0`,
		`fetchstream_panics_total{stage="publish"} 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// --pprof serves the runtime's profiles next to /metrics, except the
// command line; without it there are none.
func TestPprofServedOnlyWhenAsked(t *testing.T) {
	ns, _ := natstest.Start(t)
	url := ns.ClientURL()
	on := opsAddr(start(t, url, func(c *Config) { c.Ops.MetricsAddr, c.Ops.Pprof = "127.0.0.1:0", true }))
	if code, body := get(t, on+"/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(body, "heap profile:") {
		t.Errorf("/debug/pprof/heap with --pprof = %d %.80q", code, body)
	}
	if code, body := get(t, on+"/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("/debug/pprof/goroutine with --pprof = %d %.80q", code, body)
	}
	if code, _ := get(t, on+"/debug/pprof/cmdline"); code != 404 {
		t.Errorf("/debug/pprof/cmdline = %d, want 404: the command line may hold a password", code)
	}
	off := opsAddr(start(t, url, func(c *Config) { c.Ops.MetricsAddr = "127.0.0.1:0" }))
	if code, _ := get(t, off+"/debug/pprof/heap"); code != 404 {
		t.Errorf("/debug/pprof/heap without --pprof = %d, want 404", code)
	}
}

// A recovered panic is logged at error level with its stack, and counted
// by stage.
func TestPanicsAreLoggedAndCounted(t *testing.T) {
	m := newMetrics()
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	m.onPanic(log)(stages.Panic{Stage: "fetch", BatchID: "b1", Index: 3, URL: "http://x/", Value: "bug",
		Stack: []byte("goroutine 7 [running]:\nmain.f()")})
	families, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]float64{}
	for _, f := range families {
		if f.GetName() == "fetchstream_panics_total" {
			for _, s := range f.GetMetric() {
				counted[s.GetLabel()[0].GetValue()] = s.GetCounter().GetValue()
			}
		}
	}
	if counted["fetch"] != 1 || counted["encode"] != 0 || counted["publish"] != 0 || len(counted) != 3 {
		t.Errorf("fetchstream_panics_total by stage %v, want fetch 1, encode 0, publish 0", counted)
	}
	for _, want := range []string{"level=ERROR", "stage=fetch", "batch_id=b1", "index=3", "panic=bug", "goroutine 7 [running]"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs.String(), want)
		}
	}
}
