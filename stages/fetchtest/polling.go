package fetchtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Polled is a loopback HTTP server for polling tests, whose endpoints
// answer the way watched pages do:
//
//	/etag           the same body with ETag "v1"; 304 to If-None-Match "v1"
//	/last-modified  the same body with a fixed Last-Modified; 304 to an
//	                If-Modified-Since at or after it
//	/static         the same body, no validators
//	/changing       a new body each time, no validators
//	/etag-header/{value}  ETag set to the value given (URL-decoded)
//	/ranged         PolledRangedBody with ETag "r1", served by
//	                http.ServeContent: a Range gets a 206 of that part,
//	                If-None-Match "r1" a 304
//
// Every request is recorded with its conditional headers (Requests).
type Polled struct {
	*httptest.Server
	mu       sync.Mutex
	requests []PolledRequest
	changes  int
}

// PolledRequest is one request a Polled received.
type PolledRequest struct {
	Path, IfNoneMatch, IfModifiedSince string
	Header                             http.Header
}

// PolledLastModified is the Last-Modified /last-modified sends.
var PolledLastModified = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// PolledRangedBody is the whole body /ranged serves.
const PolledRangedBody = "the whole ranged page"

// NewPolled starts a Polled closed when t ends.
func NewPolled(t testing.TB) *Polled {
	t.Helper()
	p := &Polled{}
	mux := http.NewServeMux()
	mux.HandleFunc("/etag", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, "a page with an etag")
	})
	mux.HandleFunc("/last-modified", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", PolledLastModified.Format(http.TimeFormat))
		if since, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !PolledLastModified.After(since) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, "a page with a last-modified date")
	})
	mux.HandleFunc("/static", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "a page that never changes and says nothing of its version")
	})
	mux.HandleFunc("/changing", func(w http.ResponseWriter, _ *http.Request) {
		p.mu.Lock()
		p.changes++
		n := p.changes
		p.mu.Unlock()
		fmt.Fprintf(w, "a page that changes: version %d", n)
	})
	mux.HandleFunc("/ranged", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"r1"`)
		http.ServeContent(w, r, "", PolledLastModified, strings.NewReader(PolledRangedBody))
	})
	mux.HandleFunc("/etag-header/{value}", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Etag"] = []string{r.PathValue("value")}
		fmt.Fprint(w, "a page with the etag it was asked for")
	})
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests = append(p.requests, PolledRequest{Path: r.URL.Path, IfNoneMatch: r.Header.Get("If-None-Match"),
			IfModifiedSince: r.Header.Get("If-Modified-Since"), Header: r.Header.Clone()})
		p.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// URL is the server's URL for path.
func (p *Polled) URL(path string) string { return p.Server.URL + path }

// Requests returns the requests received whose path begins with prefix,
// in the order they came.
func (p *Polled) Requests(prefix string) []PolledRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []PolledRequest
	for _, r := range p.requests {
		if strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}
