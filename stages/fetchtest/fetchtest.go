// Package fetchtest serves real HTTP targets on loopback for tests of the
// fetch path: endpoints that answer after a delay, with a given status, or
// never, while the server counts the requests in flight and the most it
// ever saw at once (Target); servers that misbehave on purpose (Hostile,
// Silent); a destination that must never be reached (Counter); and a DNS
// server answering chosen names with chosen addresses (NewResolver).
package fetchtest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Target is a loopback HTTP server with these endpoints:
//
//	/delay/{ms}   200 with a small JSON body after ms milliseconds
//	/status/{code} that status, with a short text body
//	/hang         never answers until the client gives up or the test ends
//	/gate/{name}  200 with a small JSON body once Open(name) is called
//	              (at once if it was), so a test can hold requests in
//	              flight until it has set up what must happen meanwhile
//	/text         200 text/plain "hello"
//	/robots.txt   what SetRobots set, or 404
//	/private/...  200 text/plain "private" (a path a robots.txt may disallow)
//
// /status/{code}?retry_after=N also sends Retry-After: N. Every endpoint
// counts toward InFlight and MaxInFlight; Hits lists every request.
type Target struct {
	*httptest.Server
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	requests    atomic.Int64
	stop        chan struct{}
	stopOnce    sync.Once

	gatesMu sync.Mutex
	gates   map[string]chan struct{} // closed once opened

	hitsMu sync.Mutex
	hits   []Hit
	robots *string
}

// Hit is one request a Target received: its path and when it arrived.
type Hit struct {
	Path string
	At   time.Time
}

// NewTarget starts a Target closed when t ends.
func NewTarget(t testing.TB) *Target {
	t.Helper()
	target := &Target{stop: make(chan struct{}), gates: map[string]chan struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /delay/{ms}", target.delay)
	mux.HandleFunc("GET /status/{code}", target.status)
	mux.HandleFunc("GET /hang", target.hang)
	mux.HandleFunc("GET /gate/{name}", target.gated)
	mux.HandleFunc("GET /text", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("hello"))
	})
	mux.HandleFunc("GET /private/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("private"))
	})
	mux.HandleFunc("GET /robots.txt", target.robotsTxt)
	target.Server = httptest.NewServer(target.count(mux))
	t.Cleanup(func() {
		target.stopOnce.Do(func() { close(target.stop) })
		target.Server.Close()
	})
	return target
}

// URL returns the target's base URL joined with path.
func (t *Target) URL(path string) string { return t.Server.URL + path }

// MaxInFlight is the most requests the server has had in flight at once.
func (t *Target) MaxInFlight() int64 { return t.maxInFlight.Load() }

// InFlight is the number of requests in flight now.
func (t *Target) InFlight() int64 { return t.inFlight.Load() }

// Requests is the number of requests received.
func (t *Target) Requests() int64 { return t.requests.Load() }

// Open lets the requests waiting at /gate/{name} through, and every later
// one at once. Opening a gate twice is harmless.
func (t *Target) Open(name string) {
	gate := t.gate(name)
	t.gatesMu.Lock()
	defer t.gatesMu.Unlock()
	select {
	case <-gate:
	default:
		close(gate)
	}
}

func (t *Target) gate(name string) chan struct{} {
	t.gatesMu.Lock()
	defer t.gatesMu.Unlock()
	gate, ok := t.gates[name]
	if !ok {
		gate = make(chan struct{})
		t.gates[name] = gate
	}
	return gate
}

func (t *Target) gated(w http.ResponseWriter, r *http.Request) {
	select {
	case <-t.gate(r.PathValue("name")):
	case <-r.Context().Done():
		return
	case <-t.stop:
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"gate":"open"}`))
}

// SetRobots sets what /robots.txt answers (200, text/plain).
func (t *Target) SetRobots(text string) {
	t.hitsMu.Lock()
	defer t.hitsMu.Unlock()
	t.robots = &text
}

func (t *Target) robotsTxt(w http.ResponseWriter, _ *http.Request) {
	t.hitsMu.Lock()
	robots := t.robots
	t.hitsMu.Unlock()
	if robots == nil {
		http.NotFound(w, nil)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(*robots))
}

// Hits returns the requests received so far, in arrival order, those
// whose path has prefix only.
func (t *Target) Hits(prefix string) []Hit {
	t.hitsMu.Lock()
	defer t.hitsMu.Unlock()
	var hits []Hit
	for _, h := range t.hits {
		if strings.HasPrefix(h.Path, prefix) {
			hits = append(hits, h)
		}
	}
	return hits
}

func (t *Target) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.hitsMu.Lock()
		t.hits = append(t.hits, Hit{Path: r.URL.Path, At: time.Now()})
		t.hitsMu.Unlock()
		t.requests.Add(1)
		now := t.inFlight.Add(1)
		for {
			seen := t.maxInFlight.Load()
			if now <= seen || t.maxInFlight.CompareAndSwap(seen, now) {
				break
			}
		}
		defer t.inFlight.Add(-1)
		next.ServeHTTP(w, r)
	})
}

func (t *Target) delay(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.Atoi(r.PathValue("ms"))
	if err != nil || ms < 0 {
		http.Error(w, "bad delay", http.StatusBadRequest)
		return
	}
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
	case <-r.Context().Done():
		return
	case <-t.stop:
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"delay_ms":` + strconv.Itoa(ms) + `}`))
}

func (t *Target) status(w http.ResponseWriter, r *http.Request) {
	code, err := strconv.Atoi(r.PathValue("code"))
	if err != nil || code < 100 || code > 999 {
		http.Error(w, "bad status", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	if ra := r.URL.Query().Get("retry_after"); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	w.WriteHeader(code)
	_, _ = w.Write([]byte(http.StatusText(code)))
}

func (t *Target) hang(_ http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-t.stop:
	}
}
