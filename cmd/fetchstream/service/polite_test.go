package service

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// hostStatsOf reads the custom data of `nats micro stats fetchstream`.
func hostStatsOf(t *testing.T, s *testService) microStats {
	t.Helper()
	_, custom := endpointStats(t, s.Conn())
	return custom
}

// Through the service: a per-host rate and robots.txt, the URLs waiting on
// the host shown in the metrics and in the micro stats' top hosts, and
// host_wait_ms and robots_disallowed in the results.
func TestPolitenessEndToEnd(t *testing.T) {
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	site := fetchtest.NewTarget(t)
	site.SetRobots("User-agent: *\nDisallow: /private\n")
	svc := start(t, natsURL, func(c *Config) {
		c.Fetch.PerHostRate, c.Fetch.Robots, c.Ops.MetricsAddr = 4, true, "127.0.0.1:0"
	})
	ops := opsAddr(svc)
	urls := append(slices.Repeat([]string{site.URL("/text")}, 12), site.URL("/private/x"))
	replied := make(chan []wire.Result, 1)
	go func() {
		replied <- loadtest.RequestBatch(t, nc, wire.DefaultInSubject, wire.Batch{URLs: wire.URLs(urls...)})
	}()

	host := strings.TrimPrefix(site.URL(""), "http://")
	deadline := time.Now().Add(10 * time.Second)
	for {
		stats := hostStatsOf(t, svc)
		if stats.WaitingOnHosts > 0 && len(stats.TopWaitingHosts) > 0 {
			if top := stats.TopWaitingHosts[0]; top.Host != host || top.Waiting < 1 {
				t.Errorf("top waiting host %+v, want %s", top, host)
			}
			if g := gauge(t, ops, "fetchstream_host_waiting_urls"); g < 1 {
				t.Errorf("fetchstream_host_waiting_urls %v while the micro stats count %d", g, stats.WaitingOnHosts)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the micro stats never showed URLs waiting on the paced host")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var results []wire.Result
	select {
	case results = <-replied:
	case <-time.After(20 * time.Second):
		t.Fatal("no reply")
	}
	if r := results[12]; r.Error != wire.ErrRobotsDisallowed {
		t.Errorf("the disallowed URL: %q %s, want robots_disallowed", r.Error, r.Message)
	}
	if n := len(site.Hits("/private")); n != 0 {
		t.Errorf("%d requests to the disallowed path", n)
	}
	if r := results[11]; !r.OK() || r.HostWaitMS < 1000 {
		t.Errorf("the 12th URL at 4 per second: %q, host_wait_ms %v; want ok after more than a second's wait", r.Error, r.HostWaitMS)
	}
	if got := gauge(t, ops, `fetchstream_results_total{outcome="robots_disallowed"}`); got != 1 {
		t.Errorf("robots_disallowed results counted %v, want 1", got)
	}
	if got := gauge(t, ops, "fetchstream_host_wait_seconds_total"); got < 1 {
		t.Errorf("fetchstream_host_wait_seconds_total %v, want the waits summed", got)
	}
}

// The running line says the politeness in force when any is set (run
// --per-host-rate 2 --robots showed only mode, subjects, concurrency and
// timeout), and nothing of it with the defaults.
func TestRunningLineLogsPoliteness(t *testing.T) {
	ns, _ := natstest.Start(t)
	runningLine := func(s *testService) string {
		for line := range strings.Lines(s.logs.String()) {
			if strings.Contains(line, `"msg":"fetchstream running"`) {
				return line
			}
		}
		t.Fatalf("no running line in:\n%s", s.logs)
		return ""
	}
	polite := runningLine(start(t, ns.ClientURL(), func(c *Config) {
		c.Fetch.PerHostRate, c.Fetch.Robots, c.Fetch.PerHostBurst = 2, true, 0
	}))
	for _, want := range []string{`"per_host":0`, `"per_host_rate":2`, `"per_host_burst":1`, `"per_host_key":"host"`,
		`"max_host_pause":"1m0s"`, `"robots":true`, `"robots_ttl":"1h0m0s"`} {
		if !strings.Contains(polite, want) {
			t.Errorf("running line lacks %s:\n%s", want, polite)
		}
	}
	capped := runningLine(start(t, ns.ClientURL(), func(c *Config) { c.Fetch.PerHost, c.Fetch.PerHostKey = 4, "domain" }))
	if !strings.Contains(capped, `"per_host":4`) || !strings.Contains(capped, `"per_host_key":"domain"`) ||
		strings.Contains(capped, "per_host_burst") || strings.Contains(capped, "robots_ttl") {
		t.Errorf("per-host cap alone: running line\n%s", capped)
	}
	plain := runningLine(start(t, ns.ClientURL(), nil))
	if strings.Contains(plain, "per_host") || strings.Contains(plain, "robots") {
		t.Errorf("defaults: the running line names politeness:\n%s", plain)
	}
}
