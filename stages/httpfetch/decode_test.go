package httpfetch

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
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
