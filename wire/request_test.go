package wire

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// A plain URL travels as a string, whatever form it was read from, and a
// request object as an object: old clients see the wire unchanged.
func TestRequestJSON(t *testing.T) {
	cases := []struct {
		in, out string
		want    Request
	}{
		{`"http://a/"`, `"http://a/"`, Request{URL: "http://a/"}},
		{`{"url":"http://a/"}`, `"http://a/"`, Request{URL: "http://a/"}},
		{`{"url":"http://a/","headers":{},"body":null}`, `"http://a/"`, Request{URL: "http://a/"}},
		{`{"url":"http://a/","method":"POST","body":{ "k" : [1, 2] }}`, `{"url":"http://a/","method":"POST","body":{"k":[1,2]}}`,
			Request{URL: "http://a/", Method: "POST", Body: json.RawMessage(`{"k":[1,2]}`)}},
		{`{"url":"u","headers":{"If-None-Match":"\"x\""},"credential":"gh","body_base64":"AAE="}`,
			`{"url":"u","headers":{"If-None-Match":"\"x\""},"body_base64":"AAE=","credential":"gh"}`,
			Request{URL: "u", Headers: map[string]string{"If-None-Match": `"x"`}, BodyBase64: "AAE=", Credential: "gh"}},
	}
	for _, c := range cases {
		var r Request
		if err := json.Unmarshal([]byte(c.in), &r); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if !reflect.DeepEqual(r, c.want) {
			t.Errorf("%s: decoded %+v, want %+v", c.in, r, c.want)
		}
		if out, _ := json.Marshal(r); string(out) != c.out {
			t.Errorf("%s: encoded %s, want %s", c.in, out, c.out)
		}
	}
	for _, bad := range []string{`5`, `null`, `["http://a/"]`, `{"url": 5}`, `{"url":"u","headers":{"A":1}}`} {
		var r Request
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("%s: decoded as %+v, want an error", bad, r)
		}
	}
}

func TestDecodeBatchRequests(t *testing.T) {
	b, err := DecodeBatch([]byte(`{"urls":["http://a/",{"url":"http://b/","method":"post","headers":{"X-A":"1"}}],
		"method":"PUT","headers":{"x-a":"0","X-B":"2"},"credential":"c","response_headers":["ETag"],
		"follow_redirects":false,"retry_on":[503,429],"retry_unsafe":true,"user_agent":"bot/1"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if b.Follow() || !b.RetryUnsafe || len(b.RetryOn) != 2 || b.UserAgent != "bot/1" || b.ResponseHeaders[0] != "ETag" {
		t.Errorf("options: %+v", b.RequestOptions)
	}
	first, second := b.Request(0), b.Request(1)
	if first.Method != "PUT" || first.Credential != "c" || !reflect.DeepEqual(first.Headers, map[string]string{"x-a": "0", "X-B": "2"}) {
		t.Errorf("item 0 with defaults: %+v", first)
	}
	if second.Method != "post" || !reflect.DeepEqual(second.Headers, map[string]string{"X-A": "1", "X-B": "2"}) {
		t.Errorf("item 1 with defaults (its header wins whatever its case): %+v", second)
	}
	if b.URLs[1].Headers["X-B"] != "" {
		t.Error("merging changed the item's own headers")
	}

	// The text and array forms stay URL lists.
	if _, err := DecodeBatch([]byte(`[{"url":"http://a/"}]`), ""); !errors.Is(err, ErrBadBatch) {
		t.Errorf("array of objects: err %v, want ErrBadBatch", err)
	}
	// Batch-level settings that no item overrides fail the batch.
	for _, bad := range []string{
		`{"urls":["http://a/"],"retry_on":[404]}`,
		`{"urls":["http://a/"],"response_headers":["bad name"]}`,
		`{"urls":["http://a/"],"user_agent":"a\r\nX-Evil: 1"}`,
		`{"urls":["http://a/"],"follow_redirects":"no"}`,
		`{"urls":[5]}`,
	} {
		if _, err := DecodeBatch([]byte(bad), ""); !errors.Is(err, ErrBadBatch) {
			t.Errorf("%s: err %v, want ErrBadBatch", bad, err)
		}
	}
	// A bad request does not: it fails alone when fetched.
	if _, err := DecodeBatch([]byte(`{"urls":[{"url":"http://a/","method":"BREW","headers":{"Host":"x"}}]}`), ""); err != nil {
		t.Errorf("a bad request failed the batch: %v", err)
	}
}

func TestRequestValidate(t *testing.T) {
	cases := []struct {
		name string
		r    Request
		err  string // in the error; "" for none
	}{
		{"plain GET", Request{URL: "http://a/"}, ""},
		{"every method in any case", Request{Method: "options"}, ""},
		{"a body and headers", Request{Method: "POST", Headers: map[string]string{"Content-Type": "text/plain", "Idempotency-Key": "k"}, Body: json.RawMessage(`"hi"`)}, ""},
		{"unknown method", Request{Method: "BREW"}, `method "BREW"`},
		{"CONNECT", Request{Method: "CONNECT"}, "method"},
		{"Host", Request{Headers: map[string]string{"host": "evil"}}, "header Host may not"},
		{"Content-Length", Request{Headers: map[string]string{"Content-Length": "5"}}, "Content-Length may not"},
		{"Transfer-Encoding", Request{Headers: map[string]string{"Transfer-Encoding": "chunked"}}, "may not"},
		{"Connection", Request{Headers: map[string]string{"connection": "close"}}, "may not"},
		{"Upgrade", Request{Headers: map[string]string{"Upgrade": "h2c"}}, "may not"},
		{"CRLF in a value", Request{Headers: map[string]string{"X-A": "1\r\nX-Injected: yes"}}, "header X-A has a value"},
		{"LF in a value", Request{Headers: map[string]string{"X-A": "1\nb"}}, "control character"},
		{"NUL in a value", Request{Headers: map[string]string{"X-A": "a\x00"}}, "control character"},
		{"space in a name", Request{Headers: map[string]string{"X A": "1"}}, "not an HTTP token"},
		{"colon in a name", Request{Headers: map[string]string{"X:A": "1"}}, "not an HTTP token"},
		{"empty name", Request{Headers: map[string]string{"": "1"}}, "not an HTTP token"},
		{"a header twice", Request{Headers: map[string]string{"X-A": "1", "x-a": "2"}}, "X-A is given twice"},
		{"both bodies", Request{Body: json.RawMessage(`"a"`), BodyBase64: "AA=="}, "both"},
		{"bad base64", Request{BodyBase64: "!!"}, "not base64"},
	}
	for _, c := range cases {
		err := c.r.Validate()
		if c.err == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want ErrBadRequest mentioning %q", c.name, err, c.err)
		}
	}
	// The value of a refused header is never in the error.
	err := (&Request{Headers: map[string]string{"Authorization": "Bearer s3cret\r\n"}}).Validate()
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v quotes the value", err)
	}
}

func TestRequestPayload(t *testing.T) {
	cases := []struct {
		r           Request
		body, ctype string
	}{
		{Request{}, "", ""},
		{Request{Body: json.RawMessage(`"a \"text\"\n"`)}, "a \"text\"\n", ""},
		{Request{Body: json.RawMessage(`{"a":[1,2]}`)}, `{"a":[1,2]}`, "application/json"},
		{Request{Body: json.RawMessage(`42`)}, `42`, "application/json"},
		{Request{BodyBase64: "/wAB"}, "\xff\x00\x01", ""},
	}
	for _, c := range cases {
		body, ctype, err := c.r.Payload()
		if err != nil || string(body) != c.body || ctype != c.ctype {
			t.Errorf("%+v: got %q %q %v, want %q %q", c.r, body, ctype, err, c.body, c.ctype)
		}
	}
}
