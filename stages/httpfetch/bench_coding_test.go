package httpfetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages/httpfetch/credentials"
	"github.com/fetchstream/fetchstream/wire"
)

// BenchmarkFetcherCoded fetches a 16 KiB JSON body over loopback, sent
// gzip-coded and as is, without and with a credential (whose body is
// then redacted before it is cut and hashed): the cost of decoding and
// redacting in the fetcher, against BenchmarkFetcherLoopback.
func BenchmarkFetcherCoded(b *testing.B) {
	body := []byte(`{"items":[` + strings.Repeat(`{"id":12345,"name":"abcdefgh","tags":["x","y"]},`, 16<<10/48) + `{}]}`)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write(body)
	_ = zw.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/gzip" {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(zipped.Bytes())
			return
		}
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	set, err := credentials.Parse([]byte(`{"k": {"hosts": ["`+srv.Listener.Addr().String()+`"], "headers": {"Authorization": "Bearer ${S}"}}}`),
		func(string) (string, bool) { return `Qz7"kP\mW<x2&Rb+9/Ty=Lh>Vn'4 Gd8cJf"Ks\e3<Ua&Hw`, true })
	if err != nil {
		b.Fatal(err)
	}
	f := newTestFetcher(b, Config{Policy: loopbackOnly, Concurrency: 64, Credentials: set})
	for _, c := range []struct{ name, path, credential string }{
		{"gzip", "/gzip", ""}, {"plain", "/plain", ""},
		{"gzip credential", "/gzip", "k"}, {"plain credential", "/plain", "k"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := f.Do(context.Background(), wireRequest(srv.URL+c.path, c.credential), nil, time.Second)
					if r.Error != "" || r.BodyBytes != int64(len(body)) {
						b.Errorf("fetch: %s %s, %d bytes", r.Error, r.Message, r.BodyBytes)
						return
					}
				}
			})
		})
	}
}

func wireRequest(url, credential string) wire.Request {
	return wire.Request{URL: url, Credential: credential}
}
