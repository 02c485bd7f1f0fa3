package httpfetch

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

// loopbackOnly opens 127.0.0.1 alone, the address of the tests' servers.
var loopbackOnly = Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

// newTestFetcher builds a Fetcher from cfg, filling in what a test leaves
// zero: concurrency 4, a 64 KiB body cap, 10 redirects.
func newTestFetcher(t testing.TB, cfg Config) *Fetcher {
	t.Helper()
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 4
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 64 << 10
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = 10
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// fetch fetches rawURL with timeout and also returns the wall time.
func fetch(f *Fetcher, rawURL string, timeout time.Duration) (wire.Result, time.Duration) {
	start := time.Now()
	r := f.Fetch(context.Background(), rawURL, timeout)
	return r, time.Since(start)
}

// portOf is the port a listener is bound to.
func portOf(ln net.Listener) string {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
