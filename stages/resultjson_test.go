package stages

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages/httpfetch"
	"github.com/fetchstream/fetchstream/wire"
)

// referenceJSON is what encoding/json writes for r, without HTML escaping.
func referenceJSON(t *testing.T, r *wire.Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}

var trickyStrings = []string{
	"", "plain", `quote " and \ backslash`, "tab\tnewline\nreturn\r", "\x00\x01\x1f\x7f",
	"<html>&amp;</html>", "snow ☃ and emoji 🎉", "\u2028 line and \u2029 paragraph",
	"bad utf-8 \xff\xfe end", "\xc3", "back\bform\f", strings.Repeat("long ", 100),
}

var trickyFloats = []float64{0, 1, 0.5, 1002.475, 1e-7, 1.5e-9, 123456789.123, 1e20, 1e21, 3.4e38, 0.000001, -2.5}

func TestAppendResultMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	fetchedAt := time.Date(2026, 11, 24, 16, 32, 25, 609847257, time.UTC)
	for i := range 2000 {
		r := wire.Result{
			BatchID: pick(trickyStrings), Index: rng.IntN(100000), Count: rng.IntN(100000), URL: pick(trickyStrings),
			ElapsedMS: trickyFloats[rng.IntN(len(trickyFloats))],
		}
		if rng.IntN(2) == 0 {
			r.CorrelationID, r.FinalURL, r.Redirects, r.URLTruncated = pick(trickyStrings), pick(trickyStrings), rng.IntN(11), rng.IntN(2) == 0
		}
		if rng.IntN(2) == 0 {
			r.Status, r.Attempts, r.ContentType, r.ContentLength = 100+rng.IntN(500), rng.IntN(4), pick(trickyStrings), rng.Int64N(1<<40)
			r.BodyBytes, r.BodySHA256, r.BodyTruncated = rng.Int64N(1<<30), "ab12", rng.IntN(2) == 0
			r.Redacted = rng.IntN(2) == 0
			if rng.IntN(4) == 0 {
				r.ContentEncoding = pick(trickyStrings)
			}
			r.Body, r.BodyEncoding = httpfetch.EmbedBody([]byte(pick(trickyStrings)+pick(trickyStrings)), "", httpfetch.BodyAuto)
		}
		if rng.IntN(2) == 0 {
			r.Body, _ = httpfetch.EmbedBody([]byte(`{ "a" : [1, 2, {"b": "c d"}], "e": null }`), "application/json", httpfetch.BodyAuto)
		}
		if rng.IntN(4) == 0 {
			r.BodyObject = &wire.BodyObject{Bucket: pick(trickyStrings), Name: pick(trickyStrings), Size: rng.Int64N(1 << 26), SHA256: "cd34"}
		}
		if rng.IntN(2) == 0 {
			r.Method, r.RemoteAddr, r.BodyCharset = pick([]string{"POST", "HEAD"}), "127.0.0.1:8080", pick(trickyStrings)
			r.Headers = map[string]string{pick(trickyStrings): pick(trickyStrings), "etag": pick(trickyStrings), "location": pick(trickyStrings)}
		}
		if rng.IntN(2) == 0 {
			r.Error, r.Message = wire.ErrorKind(pick([]string{"timeout", "http_error", "blocked"})), pick(trickyStrings)
		}
		if rng.IntN(2) == 0 {
			f := func() float64 {
				if rng.IntN(3) == 0 {
					return 0
				}
				return trickyFloats[rng.IntN(len(trickyFloats))]
			}
			r.Timing = &wire.Timing{DNSMS: f(), ConnectMS: f(), TLSMS: f(), TTFBMS: f(), Reused: rng.IntN(2) == 0}
		}
		if rng.IntN(2) == 0 {
			changed := rng.IntN(2) == 0
			r.Changed, r.NotModified = &changed, !changed && rng.IntN(2) == 0
		}
		if rng.IntN(2) == 0 {
			r.HostWaitMS = trickyFloats[rng.IntN(len(trickyFloats))]
		}
		if rng.IntN(2) == 0 {
			r.FetchedAt = fetchedAt.Add(time.Duration(rng.Int64N(1e12)))
		}
		got, want := appendResult(nil, &r), referenceJSON(t, &r)
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestAppendFloatLikeEncodingJSON(t *testing.T) {
	for _, f := range append(trickyFloats, math.SmallestNonzeroFloat64, math.MaxFloat64, 1e-6, 9.99e20) {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f); !bytes.Equal(got, want) {
			t.Errorf("%g: got %s, want %s", f, got, want)
		}
	}
}
