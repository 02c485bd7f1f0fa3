package httpfetch

import (
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// Each hostile server ends as its kind, within the timeout plus a margin,
// or well before it when the failure is detectable.
func TestHostileServers(t *testing.T) {
	h := fetchtest.NewHostile(t)
	silent := fetchtest.Silent(t)
	const timeout = 500 * time.Millisecond
	for _, c := range h.Cases(silent) {
		t.Run(c.Name, func(t *testing.T) {
			f := newTestFetcher(t, Config{Policy: loopbackOnly})
			r, took := fetch(f, c.URL, timeout)
			t.Logf("%s: %s in %s (%s)", c.Name, r.Error, took.Round(time.Millisecond), r.Message)
			if r.Error != c.Kind || !strings.Contains(r.Message, c.Message) {
				t.Errorf("got %q (%s), want %q mentioning %q", r.Error, r.Message, c.Kind, c.Message)
			}
			limit := timeout + time.Second
			if c.Fast {
				limit = timeout / 2
			}
			if took > limit {
				t.Errorf("took %s, want at most %s", took, limit)
			}
			if c.Kind == wire.ErrTooManyRedirects && (r.Redirects != 10 || !strings.HasSuffix(r.FinalURL, "/redirect-loop")) {
				t.Errorf("redirects %d final_url %q, want 10 and the loop's URL", r.Redirects, r.FinalURL)
			}
		})
	}
}

// An endless gzip stream stops at the cap, counted in decoded bytes, fast
// and without decoding more than the cap.
func TestGzipBombBoundedByCap(t *testing.T) {
	h := fetchtest.NewHostile(t)
	const capBytes = 1 << 20
	f := newTestFetcher(t, Config{Policy: loopbackOnly, MaxBody: capBytes})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, took := fetch(f, h.URL("/gzip-bomb"), 5*time.Second)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("gzip bomb: %q truncated=%v body_bytes=%d in %s, %d MiB allocated", r.Error, r.BodyTruncated, r.BodyBytes, took.Round(time.Millisecond), allocated>>20)
	if r.Error != "" || !r.BodyTruncated || r.BodyBytes != capBytes || r.ContentLength != 0 {
		t.Errorf("got %q truncated=%v body_bytes=%d content_length=%d; want ok, cut at %d decoded bytes, no declared length",
			r.Error, r.BodyTruncated, r.BodyBytes, r.ContentLength, capBytes)
	}
	if r.BodyEncoding != "base64" {
		t.Errorf("zeros are not text: body_encoding %q, want base64", r.BodyEncoding)
	}
	if took > 2*time.Second {
		t.Errorf("took %s; the cap should end it at once", took)
	}
	if allocated > 32<<20 {
		t.Errorf("%d MiB allocated for a %d MiB cap: the decoder is not bounded", allocated>>20, capBytes>>20)
	}
}

// Transport failures Go reports only as text, from real servers beyond
// the hostile ones: a server that answers anything but TLS to https, and
// an HTTP/2 server that resets the stream (before or after some body).
func TestTransportTextsOfRealServers(t *testing.T) {
	garbage := rawListener(t, "\x00\x01\x02 not TLS, not HTTP\r\n")
	h2 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/partial" {
			_, _ = w.Write([]byte("abc"))
			w.(http.Flusher).Flush()
		}
		panic(http.ErrAbortHandler) // HTTP/2: RST_STREAM INTERNAL_ERROR
	}))
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)
	f := newTestFetcher(t, Config{Policy: loopbackOnly, TLSConfig: h2.Client().Transport.(*http.Transport).TLSClientConfig})
	for _, c := range []struct {
		name, url string
		kind      wire.ErrorKind
		message   string
	}{
		{"https to a server that is neither", "https://" + garbage + "/", wire.ErrTLS, "does not look like a TLS handshake"},
		{"HTTP/2 stream reset", h2.URL + "/", wire.ErrConnection, "stream error"},
		{"HTTP/2 stream reset after a body", h2.URL + "/partial", wire.ErrConnection, "stream error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, _ := fetch(f, c.url, 5*time.Second)
			if r.Error != c.kind || !strings.Contains(r.Message, c.message) {
				t.Errorf("got %q (%s), want %q mentioning %q", r.Error, r.Message, c.kind, c.message)
			}
		})
	}
}

// rawListener accepts connections on loopback and writes reply on each at
// once, then closes it. It returns host:port.
func rawListener(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(reply))
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}
