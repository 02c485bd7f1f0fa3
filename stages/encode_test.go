package stages

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fetchstream/fetchstream/wire"
)

func TestFitResult(t *testing.T) {
	body := json.RawMessage(`"` + strings.Repeat("x", 5000) + `"`)
	escapes := strings.Repeat("\x01<", 200_000) // 400 kB; 7 bytes a pair as JSON (< kept as is)
	cases := []struct {
		name     string
		result   wire.Result
		maxBytes int
		body     bool // the body survives
		urlCut   bool
	}{
		{"fits", wire.Result{URL: "http://x/<a>&", Body: body, BodyBytes: 5000}, 1 << 20, true, false},
		{"body dropped", wire.Result{URL: "http://x/", Body: body, BodyBytes: 5000, BodySHA256: "abc"}, 4096, false, false},
		{"100 kB URL in a 64 KiB message", wire.Result{URL: "http://x/" + strings.Repeat("é", 50_000), Error: wire.ErrInvalidURL,
			Message: "invalid URL: longer than 8192 bytes"}, 64 << 10, false, true},
		{"escaped URL over 1 MB", wire.Result{URL: "http://x/" + escapes}, 1<<20 - 4096, false, true},
		{"long final URL, message and content type", wire.Result{URL: "http://x/", FinalURL: "http://y/" + strings.Repeat("a", 70_000),
			Message: strings.Repeat("m", 70_000), ContentType: strings.Repeat("t", 60_000)}, 16 << 10, false, true},
		{"response headers dropped after the body", wire.Result{URL: "http://x/", Body: body,
			Headers: map[string]string{"link": strings.Repeat("l", 8000), "etag": "e"}}, 4096, false, false},
		{"smallest size", wire.Result{URL: strings.Repeat("\x02", 10_000), Message: strings.Repeat("\x03", 10_000), Body: body}, 1024, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			original := c.result
			r := c.result
			data := fitResult(nil, &r, c.maxBytes)
			if len(data) > c.maxBytes {
				t.Fatalf("%d bytes, over %d", len(data), c.maxBytes)
			}
			var back wire.Result
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if (back.Body != nil) != c.body || back.URLTruncated != c.urlCut {
				t.Errorf("body kept %v, url_truncated %v; want %v, %v", back.Body != nil, back.URLTruncated, c.body, c.urlCut)
			}
			if original.Body != nil && !c.body && (!back.BodyTruncated || back.BodyBytes != original.BodyBytes || back.BodySHA256 != original.BodySHA256) {
				t.Errorf("dropped body: body_truncated %v, bytes %d, sha %q; want set, kept, kept", back.BodyTruncated, back.BodyBytes, back.BodySHA256)
			}
			for _, s := range []struct{ got, was string }{{back.URL, original.URL}, {back.FinalURL, original.FinalURL}, {back.Message, original.Message}} {
				if !strings.HasPrefix(s.was, s.got) || !utf8.ValidString(s.got) {
					t.Errorf("a cut string is not a valid prefix of the original")
				}
			}
			if original.Headers != nil && len(marshal(nil, &wire.Result{URL: original.URL, Headers: original.Headers})) > c.maxBytes && back.Headers != nil {
				t.Errorf("headers too large for the message kept")
			}
			if c.name == "fits" && !strings.Contains(string(data), `"url":"http://x/<a>&"`) {
				t.Errorf("HTML escaped: %s", data)
			}
		})
	}
}

// A released Encoded is handed out again at most once, and Release is a
// no-op for one the stage did not make or already saw released.
func TestEncodedRelease(t *testing.T) {
	enc := &Encoder{cfg: EncodeConfig{MaxBytes: 1 << 20}}
	encode := func(url string) *Encoded {
		return enc.Encode(&Fetched{Job: &Job{}, Result: wire.Result{URL: url, Status: 200}}).(*Encoded)
	}
	first := encode("http://a.example/")
	first.Release()
	first.Release() // a second release must not pool it twice
	second, third := encode("http://b.example/"), encode("http://c.example/")
	if second == third {
		t.Fatal("one released Encoded handed out twice")
	}
	for _, e := range []*Encoded{second, third} {
		var back wire.Result
		if err := json.Unmarshal(e.Data, &back); err != nil || back.URL == "" || back.Status != 200 {
			t.Fatalf("%s: %v %+v", e.Data, err, back)
		}
	}
	literal := &Encoded{Data: []byte(`{"url":"x"}`)}
	literal.Release()
	if got := encode("http://d.example/"); got == literal {
		t.Fatal("an Encoded the stage did not make was pooled")
	}
	if string(literal.Data) != `{"url":"x"}` {
		t.Fatalf("literal's data changed: %s", literal.Data)
	}
}

// The encode stage hands a Fetched the fetch stage made back once it is
// encoded, and leaves any other alone.
func TestFetchedRelease(t *testing.T) {
	enc := &Encoder{cfg: EncodeConfig{MaxBytes: 1 << 20}}
	made := NewFetched()
	made.Job, made.Result = &Job{}, wire.Result{URL: "http://a.example/", Status: 200}
	e := enc.Encode(made).(*Encoded)
	if made.Job != nil || made.Result.URL != "" || made.pooled {
		t.Fatalf("encoded Fetched not released: %+v", made)
	}
	if !strings.Contains(string(e.Data), `"url":"http://a.example/"`) {
		t.Fatalf("encoding %s", e.Data)
	}
	made.release() // released already: must not be pooled twice
	if a, b := NewFetched(), NewFetched(); a == b {
		t.Fatal("one released Fetched handed out twice")
	}
	literal := &Fetched{Job: &Job{}, Result: wire.Result{URL: "http://b.example/"}}
	enc.Encode(literal)
	if literal.Result.URL != "http://b.example/" {
		t.Fatalf("a Fetched the stage did not make was released: %+v", literal)
	}
}
