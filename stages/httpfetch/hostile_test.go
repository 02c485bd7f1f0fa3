package httpfetch

import (
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
