package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeBatch feeds DecodeBatch any message and header. Beyond never
// panicking, it checks the contract: every error wraps ErrBadBatch; a
// batch it accepts has URLs, a bounded UTF-8 id and valid options; text-form
// URLs are trimmed single lines; decoding is deterministic; and the
// accepted batch survives a round trip through the JSON object form.
// The seed corpus is in testdata/fuzz/FuzzDecodeBatch.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte("http://a/\nhttps://b/"), "hdr")
	f.Add([]byte(`["http://a/"]`), "")
	f.Add([]byte(`{"id":"x","urls":["http://a/"],"timeout_ms":5,"concurrency":2,"priority":-3}`), "h")
	f.Add([]byte(`{"urls":["http://a/",{"url":"http://b/","method":"POST","headers":{"A":"1"},"body":{ "k" : [1] }},{"url":"http://c/","body_base64":"AA=="}],"method":"PUT","headers":{},"response_headers":["ETag"],"follow_redirects":false,"retry_on":[503],"retry_unsafe":true,"credential":"c","user_agent":"u"}`), "")
	f.Fuzz(func(t *testing.T, data []byte, headerID string) {
		b, err := DecodeBatch(data, headerID)
		if err != nil {
			if !errors.Is(err, ErrBadBatch) {
				t.Fatalf("error %v does not wrap ErrBadBatch", err)
			}
			return
		}
		if len(b.URLs) == 0 || len(b.ID) > MaxIDLength || !utf8.ValidString(b.ID) || b.TimeoutMS < 0 || b.Concurrency < 0 ||
			(b.Priority != nil && (*b.Priority < MinPriority || *b.Priority > MaxPriority)) {
			t.Fatalf("accepted an invalid batch: %+v", b)
		}
		body := bytes.TrimSpace(bytes.TrimPrefix(data, utf8BOM))
		if body[0] != '[' && body[0] != '{' {
			for _, item := range b.URLs {
				u := item.URL
				if u == "" || strings.ContainsRune(u, '\n') || strings.TrimSpace(u) != u || !utf8.ValidString(u) {
					t.Fatalf("text form gave URL %q", u)
				}
			}
		}
		again, err := DecodeBatch(data, headerID)
		if err != nil || !reflect.DeepEqual(again, b) {
			t.Fatalf("not deterministic: %+v then %+v, %v", b, again, err)
		}
		object, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("an accepted batch does not encode: %v", err)
		}
		back, err := DecodeBatch(object, "")
		if err != nil {
			t.Fatalf("round trip of %s: %v", object, err)
		}
		if !reflect.DeepEqual(back, b) {
			t.Fatalf("round trip changed the batch: %+v became %+v", b, back)
		}
	})
}
