package httpfetch

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// A compression bomb in each coding stops at the cap, counted in decoded
// bytes, with a credential too (read as far as the cap plus the longest
// pattern, then cut); content_length is not the declared, coded size.
func TestCodingBombsStopAtTheCap(t *testing.T) {
	zeros := make([]byte, 32<<20)
	var br, zs bytes.Buffer
	bw := brotli.NewWriterLevel(&br, 1)
	_, _ = bw.Write(zeros)
	_ = bw.Close()
	zw, _ := zstd.NewWriter(&zs, zstd.WithEncoderLevel(zstd.SpeedFastest))
	_, _ = zw.Write(zeros)
	_ = zw.Close()
	bombs := map[string][]byte{"gzip": fetchtest.Encode("gzip", zeros), "deflate": fetchtest.Encode("deflate", zeros),
		"br": br.Bytes(), "zstd": zs.Bytes()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		coding := r.URL.Path[1:]
		w.Header().Set("Content-Encoding", coding)
		w.Header().Set("Content-Length", strconv.Itoa(len(bombs[coding]))) // coded bytes: not the body's size
		_, _ = w.Write(bombs[coding])
	}))
	t.Cleanup(srv.Close)
	set := mustCredentials(t, `{"api": {"hosts": ["`+srv.Listener.Addr().String()+`"], "headers": {"X-Key": "${T}"}}}`)
	const maxBody = 64 << 10
	f := newTestFetcher(t, Config{Policy: loopbackOnly, MaxBody: maxBody, Credentials: set})
	for coding, bomb := range bombs {
		for _, credential := range []string{"", "api"} {
			r := do(f, wire.Request{URL: srv.URL + "/" + coding, Credential: credential}, nil)
			wantLength := int64(0) // unknown: the declared one counts coded bytes
			if credential != "" {
				wantLength = maxBody // the body returned
			}
			if r.Error != "" || !r.BodyTruncated || r.BodyBytes != maxBody || r.ContentLength != wantLength {
				t.Errorf("%s (%d bytes coded) credential %q: %s %s, %d bytes, truncated %v, content_length %d",
					coding, len(bomb), credential, r.Error, r.Message, r.BodyBytes, r.BodyTruncated, r.ContentLength)
			}
		}
	}
}

// Through the fetcher, with a credential and without: a br stream
// declaring lgwin 24 decodes as far as the cap; one read past the 4 MiB
// the service decodes of it, the large-window escape, and br and zstd
// stacked end as unexpected_error naming the coding, without a body.
func TestHostileWindowsThroughTheFetcher(t *testing.T) {
	data := randomish(8 << 20)
	bodies := map[string][]byte{"/lgwin24": brotliStored(24, data), "/escape": append([]byte{0x11, 0x1e}, data[:1<<10]...),
		"/stacked": fetchtest.Encode("br", fetchtest.Encode("zstd", data[:1<<10]))}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "br")
		if r.URL.Path == "/stacked" {
			w.Header().Set("Content-Encoding", "zstd, br")
		}
		_, _ = w.Write(bodies[r.URL.Path])
	}))
	t.Cleanup(srv.Close)
	set := mustCredentials(t, `{"api": {"hosts": ["`+srv.Listener.Addr().String()+`"], "headers": {"X-Key": "${T}"}}}`)
	small := newTestFetcher(t, Config{Policy: loopbackOnly, MaxBody: decodeCap, Credentials: set})
	large := newTestFetcher(t, Config{Policy: loopbackOnly, MaxBody: 6 << 20, Credentials: set})
	for _, credential := range []string{"", "api"} {
		r := do(small, wire.Request{URL: srv.URL + "/lgwin24", Credential: credential}, nil)
		if r.Error != "" || r.BodyBytes != decodeCap || !r.BodyTruncated {
			t.Errorf("lgwin 24, credential %q: %s %s, %d bytes", credential, r.Error, r.Message, r.BodyBytes)
		}
		for _, c := range []struct {
			f            *Fetcher
			path, reason string
		}{
			{large, "/lgwin24", "br stream declaring a window of 16 MiB, decoded as far as the 4 MiB"},
			{small, "/escape", "br stream with the large-window escape"},
			{small, "/stacked", "more than one of br and zstd"},
		} {
			r := do(c.f, wire.Request{URL: srv.URL + c.path, Credential: credential}, nil)
			if r.Error != wire.ErrUnexpected || !strings.Contains(r.Message, c.reason) || r.Body != nil || r.BodyBytes != 0 {
				t.Errorf("%s, credential %q: %s", c.path, credential, resultJSON(t, r))
			}
		}
	}
}
