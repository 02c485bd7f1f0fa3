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
