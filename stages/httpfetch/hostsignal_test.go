package httpfetch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages/hostsignal"
	"github.com/fetchstream/fetchstream/wire"
)

// pausing is a hostsignal.Receiver that records what it is told and says
// every host is paused for pause.
type pausing struct {
	pause time.Duration
	mu    sync.Mutex
	got   []struct {
		status     int
		retryAfter time.Duration
	}
}

func (p *pausing) SlowDown(_ context.Context, _ string, status int, retryAfter time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, struct {
		status     int
		retryAfter time.Duration
	}{status, retryAfter})
}

func (p *pausing) PausedFor(string) time.Duration { return p.pause }

// A 503 without Retry-After is told to the receiver, and the retry waits
// out the host's pause, not just the short backoff.
func TestRetryWaitsOutTheHostPause(t *testing.T) {
	var hits atomic.Int64
	var first, second time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if hits.Add(1) == 1 {
			first = time.Now()
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		second = time.Now()
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	f := newTestFetcher(t, Config{Retries: 1, RetryBase: time.Millisecond, RetryMax: time.Millisecond, Policy: loopbackOnly})
	p := &pausing{pause: 600 * time.Millisecond}
	r := f.Fetch(hostsignal.With(context.Background(), p), srv.URL+"/x", 5*time.Second)
	if !r.OK() || r.Attempts != 2 {
		t.Fatalf("result %q status %d after %d attempts, want ok after 2", r.Error, r.Status, r.Attempts)
	}
	if wait := second.Sub(first); wait < 600*time.Millisecond {
		t.Errorf("the retry came %s after the 503, want the host's 600ms pause", wait)
	}
	if len(p.got) != 1 || p.got[0].status != 503 || p.got[0].retryAfter >= 0 {
		t.Errorf("receiver told %+v, want one 503 without Retry-After", p.got)
	}
}

// slowBoard is a hostsignal.Deferrer that pauses the host for the
// Retry-After it is told of, from the moment it is told, and then takes
// delay to return (a Receiver may block briefly: the stage's hands the
// signal to its dispatcher). It takes every retry offered.
type slowBoard struct {
	delay    time.Duration
	mu       sync.Mutex
	until    time.Time
	deferred []time.Duration // the waits of the retries taken
}

func (b *slowBoard) SlowDown(_ context.Context, _ string, _ int, retryAfter time.Duration) {
	b.mu.Lock()
	b.until = time.Now().Add(retryAfter)
	b.mu.Unlock()
	time.Sleep(b.delay)
}

func (b *slowBoard) PausedFor(string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(time.Until(b.until), 0)
}

func (b *slowBoard) Defer(_ string, wait time.Duration, _ hostsignal.Resume) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deferred = append(b.deferred, wait)
	return true
}

// A retry that the host's pause covers is handed back however long the
// receiver took to take the 503: the pause runs from the answer, as the
// retry's wait does, so the time between them is no reason to keep the
// retry in the worker for its 20s. (Before the fix, a receiver slower than
// 100ms made the fetcher sleep the 20s itself.)
func TestDeferHoldsThroughASlowReceiver(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Retry-After", "20")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	f := newTestFetcher(t, Config{Retries: 1, RetryBase: time.Millisecond, RetryMax: time.Millisecond, Policy: loopbackOnly})
	b := &slowBoard{delay: 300 * time.Millisecond}
	ctx, cancel := context.WithTimeout(hostsignal.With(context.Background(), b), 5*time.Second)
	defer cancel()
	r := f.Fetch(ctx, srv.URL+"/x", 30*time.Second)
	if r.Error != wire.ErrHTTP || r.Status != 503 || r.Attempts != 1 {
		t.Errorf("result %q status %d after %d attempts (%s), want the 503 after 1, its retry handed back",
			r.Error, r.Status, r.Attempts, r.Message)
	}
	if len(b.deferred) != 1 || b.deferred[0] != 20*time.Second {
		t.Errorf("retries handed back with waits %v, want one of 20s", b.deferred)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("%d requests, want the 503 alone", n)
	}
}

// FetchRobots goes through the policy: a refused address is blocked, with
// no request; an allowed one answers its status and body.
func TestFetchRobots(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("User-agent: *\nDisallow: /\n"))
	}))
	t.Cleanup(srv.Close)
	open := newTestFetcher(t, Config{Policy: loopbackOnly})
	status, body, failure := open.FetchRobots(context.Background(), srv.URL+"/robots.txt", 5*time.Second)
	if failure != "" || status != 200 || string(body) != "User-agent: *\nDisallow: /\n" {
		t.Errorf("got %d %q %q", status, body, failure)
	}
	closed := newTestFetcher(t, Config{})
	if _, _, failure := closed.FetchRobots(context.Background(), srv.URL+"/robots.txt", 5*time.Second); failure != wire.ErrBlocked {
		t.Errorf("robots.txt on loopback with the default policy: %q, want blocked", failure)
	}
}
