package service

import (
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

func expectKinds(t *testing.T, results []wire.Result, kinds []wire.ErrorKind) {
	t.Helper()
	for i, r := range results {
		if r.Error != kinds[i] {
			t.Errorf("%.80s: got %q (%s), want %q", r.URL, r.Error, r.Message, kinds[i])
		}
	}
}

// The network policy through the service: redirects and mapped addresses
// are refused even with --allow-private, and an environment proxy is not
// a way around it.
func TestSecurityPolicyEndToEnd(t *testing.T) {
	proxy := fetchtest.NewCounter(t, "127.0.0.1:0")
	for _, name := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		t.Setenv(name, proxy.URL)
	}
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	origin := fetchtest.NewHostile(t)
	neighbour := fetchtest.NewCounter(t, "127.0.0.2:0")
	local := fetchtest.NewCounter(t, "127.0.0.1:0")
	_, localPort, _ := net.SplitHostPort(local.Listener.Addr().String())
	start(t, natsURL, func(c *Config) { c.Fetch.AllowPrivate = true })
	redirect := func(to string) string { return origin.URL("/redirect?to=" + url.QueryEscape(to)) }
	batch := wire.Batch{TimeoutMS: 2000, URLs: wire.URLs(
		redirect("http://169.254.169.254/latest/meta-data/"),
		redirect("http://0.0.0.0:"+localPort+"/"),
		redirect("http://[::ffff:169.254.169.254]/"),
		redirect("file:///etc/passwd"),
		"http://[::ffff:169.254.169.254]/",
		"https://169.254.169.254/",
		"http://100.64.0.1/",
		neighbour.URL+"/", // loopback: open under --allow-private
	)}
	results := loadtest.RequestBatch(t, nc, wire.DefaultInSubject, batch)
	expectKinds(t, results, []wire.ErrorKind{wire.ErrBlocked, wire.ErrBlocked, wire.ErrBlocked, wire.ErrInvalidURL,
		wire.ErrBlocked, wire.ErrBlocked, wire.ErrBlocked, ""})
	if results[0].FinalURL != "http://169.254.169.254/latest/meta-data/" || results[0].Redirects != 1 {
		t.Errorf("refused redirect: final_url %q redirects %d", results[0].FinalURL, results[0].Redirects)
	}
	if local.Hits() != 0 || proxy.Hits() != 0 || neighbour.Hits() != 1 {
		t.Errorf("hits: this host via 0.0.0.0 %d (want 0), proxy %d (want 0), allowed neighbour %d (want 1)",
			local.Hits(), proxy.Hits(), neighbour.Hits())
	}
}

// --retries and its backoff flags through the service. Every URL is on
// one host, so host pauses are off: with them, the 429 asking for an hour
// would pause the host, and so the other URLs' retries, for
// MaxHostPause (see httpfetch.TestRetryWaitsOutTheHostPause).
func TestRetriesEndToEnd(t *testing.T) {
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	h := fetchtest.NewHostile(t)
	start(t, natsURL, func(c *Config) {
		c.Fetch.Retries, c.Fetch.RetryBase, c.Fetch.RetryMax = 2, 10*time.Millisecond, 20*time.Millisecond
		c.Fetch.MaxHostPause = 0
	})
	flaky := func(key, fail, status, retryAfter string) string {
		return h.URL("/flaky?" + url.Values{"key": {key}, "fail": {fail}, "status": {status}, "retry_after": {retryAfter}}.Encode())
	}
	start := time.Now()
	results := loadtest.RequestBatch(t, nc, wire.DefaultInSubject, wire.Batch{TimeoutMS: 500, URLs: wire.URLs(
		flaky("twice", "2", "503", ""),
		flaky("always", "9", "502", ""),
		flaky("far", "1", "429", "3600"),
		flaky("404", "1", "404", ""),
		h.URL("/hang"),
	)})
	took := time.Since(start)
	want := []struct {
		kind     wire.ErrorKind
		status   int
		attempts int
	}{{"", 200, 3}, {wire.ErrHTTP, 502, 3}, {wire.ErrHTTP, 429, 1}, {wire.ErrHTTP, 404, 1}, {wire.ErrTimeout, 0, 3}}
	for i, w := range want {
		r := results[i]
		if r.Error != w.kind || r.Status != w.status || (r.Attempts != w.attempts && !(w.kind == wire.ErrTimeout && r.Attempts == 2)) {
			t.Errorf("%s: got %q %d after %d attempts, want %q %d after %d", r.URL, r.Error, r.Status, r.Attempts, w.kind, w.status, w.attempts)
		}
	}
	if budget := 3 * 500 * time.Millisecond; took > budget+2*time.Second {
		t.Errorf("batch took %s; the slowest URL's budget is %s", took, budget)
	}
}

// --max-body, --refuse-large and --body through the service, each on its
// own input subject.
func TestBodyFlagsEndToEnd(t *testing.T) {
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	h := fetchtest.NewHostile(t)
	start(t, natsURL, func(c *Config) { c.Subjects.In, c.Fetch.MaxBody = "fetch.cut", 1<<10 })
	start(t, natsURL, func(c *Config) { c.Subjects.In, c.Fetch.MaxBody, c.Fetch.RefuseLarge = "fetch.refuse", 1<<10, true })
	start(t, natsURL, func(c *Config) { c.Subjects.In, c.Fetch.BodyMode = "fetch.text", "text" })
	start(t, natsURL, func(c *Config) { c.Subjects.In, c.Fetch.BodyMode = "fetch.none", "none" })

	cut := loadtest.RequestBatch(t, nc, "fetch.cut", wire.Batch{URLs: wire.URLs(h.URL("/utf8/4000"), h.URL("/gzip-bomb"), h.URL("/json"))})
	for _, r := range cut[:2] {
		if !r.OK() || !r.BodyTruncated || r.BodyBytes != 1024 || r.BodySHA256 == "" {
			t.Errorf("--max-body 1KiB, %s: %q truncated %v body_bytes %d", r.URL, r.Error, r.BodyTruncated, r.BodyBytes)
		}
	}
	if string(cut[2].Body) != `{"hello":"world","n":[1,2,3]}` || cut[2].BodyTruncated { // embedded JSON is compacted
		t.Errorf("a body under the cap: %s", cut[2].Body)
	}

	refused := loadtest.RequestBatch(t, nc, "fetch.refuse", wire.Batch{URLs: wire.URLs(h.URL("/utf8/4000"), h.URL("/json"))})
	expectKinds(t, refused, []wire.ErrorKind{wire.ErrTooLarge, ""})

	text := loadtest.RequestBatch(t, nc, "fetch.text", wire.Batch{URLs: wire.URLs(h.URL("/bytes/100"), h.URL("/json"))})
	if text[0].Body != nil || text[0].BodyBytes != 100 || text[1].Body == nil {
		t.Errorf("--body text: binary body %.20s (%d bytes), JSON body %s", text[0].Body, text[0].BodyBytes, text[1].Body)
	}
	none := loadtest.RequestBatch(t, nc, "fetch.none", wire.Batch{URLs: wire.URLs(h.URL("/json"))})
	if none[0].Body != nil || none[0].BodyBytes != 34 || len(none[0].BodySHA256) != 64 {
		t.Errorf("--body none: body %s, body_bytes %d, sha %q", none[0].Body, none[0].BodyBytes, none[0].BodySHA256)
	}
}

// Hostile servers through the service with one slot: each ends as its
// kind within its timeout, and the URL after them is fetched.
func TestHostileServersEndToEnd(t *testing.T) {
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	h := fetchtest.NewHostile(t)
	silent := fetchtest.Silent(t)
	start(t, natsURL, func(c *Config) { c.Fetch.Concurrency = 1 })
	start := time.Now()
	results := loadtest.RequestBatch(t, nc, wire.DefaultInSubject, wire.Batch{TimeoutMS: 300, URLs: wire.URLs(
		h.URL("/trickle"), h.URL("/hang"), h.URL("/slow-headers"), "http://"+silent+"/",
		h.URL("/endless-headers"), h.URL("/redirect-loop"), h.URL("/garbage"), h.URL("/json"),
	)})
	took := time.Since(start)
	expectKinds(t, results, []wire.ErrorKind{wire.ErrTimeout, wire.ErrTimeout, wire.ErrTimeout, wire.ErrTimeout,
		wire.ErrTooLarge, wire.ErrTooManyRedirects, wire.ErrConnection, ""})
	for _, r := range results[:4] {
		if r.ElapsedMS > 300+1000 {
			t.Errorf("%s ended after %.0fms, timeout 300ms", r.URL, r.ElapsedMS)
		}
	}
	if took > 4*300*time.Millisecond+3*time.Second {
		t.Errorf("batch took %s with one slot; four timeouts of 300ms", took)
	}
}

// --per-host caps one host's requests in flight; another host's URLs
// behind them start at once.
func TestPerHostEndToEnd(t *testing.T) {
	ns, nc := natstest.Start(t)
	natsURL := ns.ClientURL()
	slow, quick := fetchtest.NewTarget(t), fetchtest.NewTarget(t)
	start(t, natsURL, func(c *Config) { c.Fetch.PerHost, c.Fetch.Concurrency = 2, 8 })
	s := slow.URL("/delay/500")
	start := time.Now()
	results := loadtest.RequestBatch(t, nc, wire.DefaultInSubject, wire.Batch{URLs: wire.URLs(s, s, s, s, quick.URL("/text"), quick.URL("/delay/1"))})
	took := time.Since(start)
	if got := slow.MaxInFlight(); got != 2 {
		t.Errorf("the slow host saw %d in flight at most, want the cap of 2", got)
	}
	// The slow host's third URL can start only once one of its first two
	// has taken its 500ms; the quick host's URLs must not wait for that.
	thirdSlow := results[2].FetchedAt
	for _, r := range results[4:] {
		if !r.OK() || !r.FetchedAt.Before(thirdSlow) {
			t.Errorf("%s: %q, started %s after the batch, not before the slow host's third URL (%s): it waited behind the capped host",
				r.URL, r.Error, r.FetchedAt.Sub(start), thirdSlow.Sub(start))
		}
	}
	if took < time.Second {
		t.Errorf("took %s: four 500ms URLs two at a time take at least 1s", took)
	}
}
