package httpfetch

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		value string
		want  time.Duration
	}{
		{"", -1},
		{"0", 0},
		{"3", 3 * time.Second},
		{" 7 ", 7 * time.Second},
		{"-1", -1},
		{"1.5", -1},
		{"soon", -1},
		{"99999999999999999999999", maxRetryAfter},
		{"31536001", maxRetryAfter},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(90 * time.Second).Format(time.RFC850), 90 * time.Second},
		{now.Add(5 * time.Second).Format(time.ANSIC), 5 * time.Second},
		{"Sun, 06 Nov 1994 08:49:37 PST", -1},
	}
	for _, c := range cases {
		if got := parseRetryAfter(c.value, now); got != c.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", c.value, got, c.want)
		}
	}
}

// Full jitter: before retry n the wait is uniform in [0, min(max, base·2^(n-1))).
func TestBackoffFullJitter(t *testing.T) {
	p := retryPolicy{retries: 8, base: 100 * time.Millisecond, max: time.Second}
	for n, ceiling := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		ceiling *= time.Millisecond
		var most time.Duration
		seen := map[time.Duration]bool{}
		for range 2000 {
			d := p.backoff(n + 1)
			if d < 0 || d >= ceiling {
				t.Fatalf("backoff(%d) = %s, outside [0, %s)", n+1, d, ceiling)
			}
			most = max(most, d)
			seen[d] = true
		}
		if most < ceiling*9/10 || len(seen) < 1000 {
			t.Errorf("backoff(%d): most %s of ceiling %s, %d distinct of 2000: not spread over the range", n+1, most, ceiling, len(seen))
		}
	}
	if d := (retryPolicy{retries: 1, max: time.Second}).backoff(3); d != 0 {
		t.Errorf("zero base: backoff %s, want 0", d)
	}
	if d := (retryPolicy{retries: 10, base: time.Hour, max: 2 * time.Hour}).backoff(10); d >= 2*time.Hour {
		t.Errorf("backoff %s above its max", d)
	}
}

func TestRetryDecision(t *testing.T) {
	p := retryPolicy{retries: 2, base: 10 * time.Millisecond, max: 10 * time.Millisecond}
	const timeout = time.Second
	budget := p.budget(timeout)
	cases := []struct {
		name       string
		n          int
		result     wire.Result
		retryAfter time.Duration
		left       time.Duration
		again      bool
		wait       time.Duration // checked when >= 0
	}{
		{"timeout", 1, wire.Result{Error: wire.ErrTimeout}, -1, budget - timeout, true, -1},
		{"connection error", 1, wire.Result{Error: wire.ErrConnection}, -1, budget, true, -1},
		{"429", 1, wire.Result{Error: wire.ErrHTTP, Status: 429}, -1, budget, true, -1},
		{"502", 1, wire.Result{Error: wire.ErrHTTP, Status: 502}, -1, budget, true, -1},
		{"503", 1, wire.Result{Error: wire.ErrHTTP, Status: 503}, -1, budget, true, -1},
		{"504", 1, wire.Result{Error: wire.ErrHTTP, Status: 504}, -1, budget, true, -1},
		{"500", 1, wire.Result{Error: wire.ErrHTTP, Status: 500}, -1, budget, false, -1},
		{"404", 1, wire.Result{Error: wire.ErrHTTP, Status: 404}, -1, budget, false, -1},
		{"ok", 1, wire.Result{Status: 200}, -1, budget, false, -1},
		{"blocked", 1, wire.Result{Error: wire.ErrBlocked}, -1, budget, false, -1},
		{"dns", 1, wire.Result{Error: wire.ErrDNS}, -1, budget, false, -1},
		{"tls", 1, wire.Result{Error: wire.ErrTLS}, -1, budget, false, -1},
		{"too large", 1, wire.Result{Error: wire.ErrTooLarge}, -1, budget, false, -1},
		{"redirect loop", 1, wire.Result{Error: wire.ErrTooManyRedirects}, -1, budget, false, -1},
		{"canceled", 1, wire.Result{Error: wire.ErrCanceled}, -1, budget, false, -1},
		{"retries used up", 3, wire.Result{Error: wire.ErrTimeout}, -1, budget, false, -1},
		{"Retry-After is the wait", 1, wire.Result{Error: wire.ErrHTTP, Status: 503}, 2 * time.Second, budget, true, 2 * time.Second},
		{"Retry-After 0", 1, wire.Result{Error: wire.ErrHTTP, Status: 429}, 0, budget, true, 0},
		{"Retry-After past the budget", 1, wire.Result{Error: wire.ErrHTTP, Status: 429}, time.Hour, budget, false, -1},
		{"Retry-After leaving under half a timeout", 1, wire.Result{Error: wire.ErrHTTP, Status: 503}, budget - 400*time.Millisecond, budget, false, -1},
		{"less than half a timeout left", 2, wire.Result{Error: wire.ErrTimeout}, -1, 400 * time.Millisecond, false, -1},
	}
	get := &spec{method: http.MethodGet, retry: true}
	for _, c := range cases {
		wait, again := p.next(c.n, get.retryable(&c.result), c.retryAfter, c.left, timeout)
		if again != c.again || (c.wait >= 0 && again && wait != c.wait) {
			t.Errorf("%s: next = %s, %v; want again=%v wait=%s", c.name, wait, again, c.again, c.wait)
		}
	}
}

// POST and PATCH are retried only with an Idempotency-Key or
// retry_unsafe; retry_on replaces the statuses retried.
func TestRetryableByRequest(t *testing.T) {
	f := newTestFetcher(t, Config{})
	unsafe := true
	status := func(code int) *wire.Result { return &wire.Result{Error: wire.ErrHTTP, Status: code} }
	cases := []struct {
		name   string
		req    wire.Request
		opts   *wire.RequestOptions
		result *wire.Result
		want   bool
	}{
		{"GET 503", wire.Request{}, nil, status(503), true},
		{"HEAD timeout", wire.Request{Method: "HEAD"}, nil, &wire.Result{Error: wire.ErrTimeout}, true},
		{"PUT 503", wire.Request{Method: "PUT"}, nil, status(503), true},
		{"DELETE 502", wire.Request{Method: "DELETE"}, nil, status(502), true},
		{"OPTIONS 429", wire.Request{Method: "OPTIONS"}, nil, status(429), true},
		{"POST 503", wire.Request{Method: "POST"}, nil, status(503), false},
		{"POST timeout", wire.Request{Method: "POST"}, nil, &wire.Result{Error: wire.ErrTimeout}, false},
		{"PATCH connection error", wire.Request{Method: "PATCH"}, nil, &wire.Result{Error: wire.ErrConnection}, false},
		{"POST with an Idempotency-Key", wire.Request{Method: "POST", Headers: map[string]string{"idempotency-key": "k1"}}, nil, status(503), true},
		{"POST with retry_unsafe", wire.Request{Method: "POST"}, &wire.RequestOptions{RetryUnsafe: unsafe}, status(503), true},
		{"POST by the batch's method", wire.Request{}, &wire.RequestOptions{Method: "POST"}, status(503), false},
		{"retry_on names 500", wire.Request{}, &wire.RequestOptions{RetryOn: []int{500}}, status(500), true},
		{"retry_on leaves out 503", wire.Request{}, &wire.RequestOptions{RetryOn: []int{500}}, status(503), false},
		{"retry_on and a timeout", wire.Request{}, &wire.RequestOptions{RetryOn: []int{500}}, &wire.Result{Error: wire.ErrTimeout}, true},
	}
	for _, c := range cases {
		c.req.URL = "http://a.example/"
		s, err := f.resolve(c.req, c.opts)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := s.retryable(c.result); got != c.want {
			t.Errorf("%s: retryable %v, want %v", c.name, got, c.want)
		}
	}
}

func flaky(h *fetchtest.Hostile, key string, fail int, status, retryAfter string) string {
	q := url.Values{"key": {key}, "fail": {strconv.Itoa(fail)}, "status": {status}}
	if retryAfter != "" {
		q.Set("retry_after", retryAfter)
	}
	return h.URL("/flaky?" + q.Encode())
}

// Retries against a real server: what is retried, how often, and the
// result and attempts reported.
func TestRetriesAgainstServer(t *testing.T) {
	h := fetchtest.NewHostile(t)
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Retries: 2, RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	cases := []struct {
		key      string
		url      string
		kind     wire.ErrorKind
		status   int
		attempts int
	}{
		{"503-twice", flaky(h, "503-twice", 2, "503", ""), "", 200, 3},
		{"503-always", flaky(h, "503-always", 9, "503", ""), wire.ErrHTTP, 503, 3},
		{"429-once", flaky(h, "429-once", 1, "429", ""), "", 200, 2},
		{"502-once", flaky(h, "502-once", 1, "502", ""), "", 200, 2},
		{"504-once", flaky(h, "504-once", 1, "504", ""), "", 200, 2},
		{"500-not-retried", flaky(h, "500-not-retried", 1, "500", ""), wire.ErrHTTP, 500, 1},
		{"404-not-retried", flaky(h, "404-not-retried", 1, "404", ""), wire.ErrHTTP, 404, 1},
		// Retry-After is honoured on 429 and 503 only: on 502 the backoff applies.
		{"502-retry-after-ignored", flaky(h, "502-retry-after-ignored", 1, "502", "3600"), "", 200, 2},
	}
	for _, c := range cases {
		r, took := fetch(f, c.url, 2*time.Second)
		if r.Error != c.kind || r.Status != c.status || r.Attempts != c.attempts {
			t.Errorf("%s: got %q status %d attempts %d (%s); want %q %d after %d attempts",
				c.key, r.Error, r.Status, r.Attempts, r.Message, c.kind, c.status, c.attempts)
		}
		if got := h.FlakyCount(c.key); got != c.attempts {
			t.Errorf("%s: the server saw %d requests, want %d", c.key, got, c.attempts)
		}
		if took > time.Second {
			t.Errorf("%s took %s; the backoff is at most 50ms", c.key, took)
		}
	}
	// A reset on a fresh connection (net/http itself retries a GET once
	// when a reused keep-alive connection fails before any response).
	fresh := newTestFetcher(t, Config{Policy: loopbackOnly, Retries: 2, RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	if r, _ := fetch(fresh, flaky(h, "reset-once", 1, "reset", ""), 2*time.Second); !r.OK() || r.Attempts != 2 || h.FlakyCount("reset-once") != 2 {
		t.Errorf("reset once: got %q after %d attempts, server saw %d; want ok after 2", r.Error, r.Attempts, h.FlakyCount("reset-once"))
	}
	if r, _ := fetch(f, "http://127.0.0.2:1/", time.Second); r.Error != wire.ErrBlocked || r.Attempts != 1 {
		t.Errorf("blocked: %q after %d attempts, want blocked after 1", r.Error, r.Attempts)
	}
	if r, _ := fetch(f, "ftp://x/", time.Second); r.Error != wire.ErrInvalidURL || r.Attempts != 0 {
		t.Errorf("invalid URL: %q after %d attempts, want invalid_url after 0", r.Error, r.Attempts)
	}
}

// Timeouts are retried; each attempt has the timeout and the whole URL
// stays within timeout × (retries+1).
func TestRetriedTimeoutsStayInBudget(t *testing.T) {
	h := fetchtest.NewHostile(t)
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Retries: 2, RetryBase: 10 * time.Millisecond, RetryMax: 10 * time.Millisecond})
	const timeout = 300 * time.Millisecond
	r, took := fetch(f, h.URL("/hang"), timeout)
	if r.Error != wire.ErrTimeout || r.Attempts < 2 || r.Attempts > 3 {
		t.Errorf("got %q after %d attempts (%s), want timeout after 2 or 3", r.Error, r.Attempts, r.Message)
	}
	if got := h.Requests("/hang"); got != r.Attempts {
		t.Errorf("the server saw %d requests, the result says %d attempts", got, r.Attempts)
	}
	if took < 2*timeout || took > 3*timeout+time.Second {
		t.Errorf("took %s, want between two timeouts (%s) and the budget (%s) plus a margin", took, 2*timeout, 3*timeout)
	}
}

// Retry-After, in seconds and as an HTTP-date, sets the wait; one that
// reaches past the budget ends the retries at once.
func TestRetryAfter(t *testing.T) {
	h := fetchtest.NewHostile(t)
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Retries: 3, RetryBase: time.Millisecond, RetryMax: time.Millisecond})
	t.Run("seconds", func(t *testing.T) {
		t.Parallel()
		r, took := fetch(f, flaky(h, "ra-seconds", 1, "429", "1"), 2*time.Second)
		if !r.OK() || r.Attempts != 2 || took < time.Second {
			t.Errorf("got %q after %d attempts in %s; want ok after 2, no sooner than the 1s asked", r.Error, r.Attempts, took)
		}
	})
	t.Run("HTTP-date", func(t *testing.T) {
		t.Parallel()
		when := time.Now().Add(2 * time.Second).UTC()
		r, took := fetch(f, flaky(h, "ra-date", 1, "503", when.Format(http.TimeFormat)), 2*time.Second)
		wantAtLeast := time.Until(when.Truncate(time.Second)) + took - 50*time.Millisecond // the date's second, less clock slack
		if !r.OK() || r.Attempts != 2 || took < min(wantAtLeast, time.Second) {
			t.Errorf("got %q after %d attempts in %s; want ok after 2, at the date asked", r.Error, r.Attempts, took)
		}
	})
	t.Run("past the budget", func(t *testing.T) {
		t.Parallel()
		for _, value := range []string{"3600", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)} {
			key := "ra-far-" + value[:2]
			r, took := fetch(f, flaky(h, key, 1, "503", value), 500*time.Millisecond)
			if r.Error != wire.ErrHTTP || r.Status != 503 || r.Attempts != 1 || took > time.Second {
				t.Errorf("Retry-After %s: got %q %d after %d attempts in %s; want the 503 at once", value, r.Error, r.Status, r.Attempts, took)
			}
		}
	})
}

// A shutdown during the wait before a retry ends it at once.
func TestRetryWaitHonoursCancel(t *testing.T) {
	h := fetchtest.NewHostile(t)
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Retries: 1, RetryBase: time.Millisecond, RetryMax: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	r := f.Fetch(ctx, flaky(h, "cancel", 1, "429", "20"), 30*time.Second)
	if took := time.Since(start); r.Error != wire.ErrCanceled || r.Attempts != 1 || took > 2*time.Second {
		t.Errorf("got %q after %d attempts in %s (%s); want canceled after 1, promptly", r.Error, r.Attempts, took, r.Message)
	}
}
