package fetchtest

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hostile is a loopback HTTP server that misbehaves on purpose:
//
//	/trickle          200, then one body byte every 50ms, forever
//	/hang             accepts the request and never answers
//	/endless-headers  a status line, then header lines forever
//	/slow-headers     a status line, then one header byte every 50ms
//	/redirect-loop    302 to itself
//	/redirect?to=URL  302 to URL
//	/gzip-bomb        Content-Encoding: gzip, an endless stream of zeros
//	/bad-gzip         Content-Encoding: gzip over bytes that are not gzip
//	/garbage          bytes that are not HTTP, then close
//	/reset            closes the connection with a TCP reset
//	/cut-body         declares 1000 bytes, sends 10, closes
//	/flaky?key=K&fail=N&status=S&retry_after=V
//	                  the first N requests with key K get status S (or a
//	                  reset when S is "reset"), with Retry-After V if
//	                  given; later ones 200 "ok"
//	/bytes/{n}        n bytes of binary data (application/octet-stream)
//	/utf8/{n}         n bytes of text made of 2-byte runes ("é")
//	/json             a small JSON document
//
// It counts the requests each path received. Endless handlers stop when
// the client goes away or the test ends.
type Hostile struct {
	*httptest.Server
	stop     chan struct{}
	mu       sync.Mutex
	requests map[string]int
	flaky    map[string]int
}

// NewHostile starts a Hostile server closed when t ends.
func NewHostile(t testing.TB) *Hostile {
	t.Helper()
	h := &Hostile{stop: make(chan struct{}), requests: map[string]int{}, flaky: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /trickle", h.trickle)
	mux.HandleFunc("GET /hang", h.hang)
	mux.HandleFunc("GET /endless-headers", h.endlessHeaders)
	mux.HandleFunc("GET /slow-headers", h.slowHeaders)
	mux.HandleFunc("GET /redirect-loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/redirect-loop", http.StatusFound)
	})
	mux.HandleFunc("GET /redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	mux.HandleFunc("GET /gzip-bomb", h.gzipBomb)
	mux.HandleFunc("GET /bad-gzip", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write([]byte("this is not gzip data"))
	})
	mux.HandleFunc("GET /garbage", func(w http.ResponseWriter, _ *http.Request) {
		hijack(w, func(c net.Conn, bw *bufio.ReadWriter) {
			_, _ = bw.WriteString("\x00\x01\x02 this is not HTTP\r\n\r\n")
			_ = bw.Flush()
		})
	})
	mux.HandleFunc("GET /reset", func(w http.ResponseWriter, _ *http.Request) {
		hijack(w, func(c net.Conn, _ *bufio.ReadWriter) { resetConn(c) })
	})
	mux.HandleFunc("GET /cut-body", func(w http.ResponseWriter, _ *http.Request) {
		hijack(w, func(c net.Conn, bw *bufio.ReadWriter) {
			_, _ = bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n0123456789")
			_ = bw.Flush()
		})
	})
	// Replies that break HTTP/1.1's framing, each a text-only net/http error.
	for path, reply := range map[string]string{
		"/bad-chunked":      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
		"/huge-chunk":       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
		"/long-trailer":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1",
		"/bad-length":       "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
		"/two-lengths":      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
		"/unknown-encoding": "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
		"/bad-status":       "HTTP/1.1 abc OK\r\n\r\n",
	} {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, _ *http.Request) {
			hijack(w, func(c net.Conn, bw *bufio.ReadWriter) {
				_, _ = bw.WriteString(reply)
				_ = bw.Flush()
			})
		})
	}
	mux.HandleFunc("GET /flaky", h.flakyHandler)
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		w.Header().Set("Content-Type", "application/octet-stream")
		rng := rand.New(rand.NewPCG(1, 2))
		buf := make([]byte, max(n, 0))
		for i := range buf {
			buf[i] = byte(rng.Uint32()) | 0x80 // never valid UTF-8 on its own
		}
		_, _ = w.Write(buf)
	})
	mux.HandleFunc("GET /utf8/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(strings.Repeat("é", max(n, 0)/2)))
	})
	mux.HandleFunc("GET /json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"hello": "world", "n": [1, 2, 3]}`))
	})
	h.Server = httptest.NewServer(h.count(mux))
	t.Cleanup(func() {
		close(h.stop)
		h.Server.CloseClientConnections()
		h.Server.Close()
	})
	return h
}

// URL returns the server's base URL joined with path.
func (h *Hostile) URL(path string) string { return h.Server.URL + path }

// Requests is the number of requests path received (query excluded).
func (h *Hostile) Requests(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests[path]
}

func (h *Hostile) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.requests[r.URL.Path]++
		h.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// wait pauses for d; false when the client left or the test ended.
func (h *Hostile) wait(r *http.Request, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-r.Context().Done():
	case <-h.stop:
	}
	return false
}

func (h *Hostile) trickle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	flusher := w.(http.Flusher)
	for h.wait(r, 50*time.Millisecond) {
		if _, err := w.Write([]byte{'x'}); err != nil {
			return
		}
		flusher.Flush()
	}
}

func (h *Hostile) hang(_ http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-h.stop:
	}
}

func (h *Hostile) endlessHeaders(w http.ResponseWriter, _ *http.Request) {
	hijack(w, func(c net.Conn, bw *bufio.ReadWriter) {
		_, _ = bw.WriteString("HTTP/1.1 200 OK\r\n")
		line := "X-Filler: " + strings.Repeat("a", 100) + "\r\n"
		for {
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := bw.WriteString(line); err != nil || bw.Flush() != nil {
				return
			}
			select {
			case <-h.stop:
				return
			default:
			}
		}
	})
}

func (h *Hostile) slowHeaders(w http.ResponseWriter, r *http.Request) {
	hijack(w, func(c net.Conn, bw *bufio.ReadWriter) {
		_, _ = bw.WriteString("HTTP/1.1 200 OK\r\nX-Slow: ")
		for {
			if bw.Flush() != nil {
				return
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-h.stop:
				return
			}
			_, _ = bw.WriteString("a")
		}
	})
}

func (h *Hostile) gzipBomb(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Encoding", "gzip")
	zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
	flusher := w.(http.Flusher)
	zeros := make([]byte, 64<<10)
	for {
		if _, err := zw.Write(zeros); err != nil || zw.Flush() != nil {
			return
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-h.stop:
			return
		default:
		}
	}
}

func (h *Hostile) flakyHandler(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fail, _ := strconv.Atoi(q.Get("fail"))
	h.mu.Lock()
	h.flaky[q.Get("key")]++
	n := h.flaky[q.Get("key")]
	h.mu.Unlock()
	if n > fail {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = fmt.Fprint(w, "ok")
		return
	}
	if q.Get("status") == "reset" {
		hijack(w, func(c net.Conn, _ *bufio.ReadWriter) { resetConn(c) })
		return
	}
	status, err := strconv.Atoi(q.Get("status"))
	if err != nil {
		status = http.StatusServiceUnavailable
	}
	if v := q.Get("retry_after"); v != "" {
		w.Header().Set("Retry-After", v)
	}
	http.Error(w, http.StatusText(status), status)
}

// FlakyCount is how many requests /flaky received with key.
func (h *Hostile) FlakyCount(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.flaky[key]
}

func hijack(w http.ResponseWriter, f func(net.Conn, *bufio.ReadWriter)) {
	c, bw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	f(c, bw)
}

func resetConn(c net.Conn) {
	if tcp, ok := c.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0) // Close sends RST
	}
	_ = c.Close()
}
