package fetchtest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// Silent listens on loopback and accepts connections without ever
// writing or reading: a server that never answers, at the TCP level (for
// https, a TLS handshake that never completes). It returns host:port;
// the listener and its connections are closed when t ends.
func Silent(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// Counter is an HTTP server on a given loopback address that answers 200
// "reached" and counts requests: a destination a test expects the fetcher
// never to reach.
type Counter struct {
	*httptest.Server
	hits atomic.Int64
}

// NewCounter serves on addr (e.g. "127.0.0.2:0") until t ends.
func NewCounter(t testing.TB, addr string) *Counter {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &Counter{}
	c.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.hits.Add(1)
		_, _ = w.Write([]byte("reached"))
	}))
	c.Server.Listener = ln
	c.Server.Start()
	t.Cleanup(c.Server.Close)
	return c
}

// Hits is the number of requests the server answered.
func (c *Counter) Hits() int64 { return c.hits.Load() }

// CountConns counts the connections srv accepts, for tests of keep-alive
// reuse. Call it before srv.Start (on an httptest.NewUnstartedServer).
func CountConns(srv *httptest.Server) *atomic.Int64 {
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	return &conns
}
