package httpfetch

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
)

func BenchmarkEmbedBody(b *testing.B) {
	bodies := map[string][]byte{
		"json 1KiB": []byte(`{"items":[` + strings.Repeat(`{"id":12345,"name":"abcdefgh"},`, 33) + `{}]}`),
		"text 1KiB": []byte(strings.Repeat("hello world ", 85)),
	}
	for name, body := range bodies {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				EmbedBody(body, "", BodyAuto)
			}
		})
	}
}

func BenchmarkFetcherLoopback(b *testing.B) {
	target := fetchtest.NewTarget(b)
	f := newTestFetcher(b, Config{Policy: loopbackOnly, Concurrency: 64})
	url := target.URL("/delay/0")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := f.Fetch(context.Background(), url, time.Second); r.Error != "" {
				b.Errorf("fetch: %s %s", r.Error, r.Message)
				return
			}
		}
	})
}

// BenchmarkBareClientLoopback is the baseline for BenchmarkFetcherLoopback:
// a plain net/http client reading the same body.
func BenchmarkBareClientLoopback(b *testing.B) {
	target := fetchtest.NewTarget(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	url := target.URL("/delay/0")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
