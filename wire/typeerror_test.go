package wire

import (
	"errors"
	"strings"
	"testing"
)

// A value of the wrong type is refused in the batch's terms, for each
// form that can hold one (a JSON array, a batch object, a request object
// in its urls): where it is, what belongs there, what came; never
// encoding/json's Go types.
func TestDecodeBatchTypeErrors(t *testing.T) {
	cases := []struct{ data, want string }{
		{`[1,2]`, `[0]: want a URL string, got a number`},
		{`["http://a/", true]`, `[1]: want a URL string, got true`},
		{`["http://a/", {"url": "http://b/"}]`, `[1]: want a URL string (request objects go in the object form, {"urls": [...]}), got an object`},
		{`{"urls": "http://a/"}`, `urls: want an array of URL strings and request objects, got a string`},
		{`{"urls": ["http://a/", 2]}`, `urls[1]: want a URL string or a request object, got a number`},
		{`{"URLs": [null]}`, `urls[0]: want a URL string or a request object, got null`},
		{`{"urls": ["http://a/", [1]]}`, `urls[1]: want a URL string or a request object, got an array`},
		{`{"urls": ["http://a/", {"url": 5}]}`, `urls[1].url: want a string, got a number`},
		{`{"urls": [{"url": "http://a/", "headers": []}]}`, `urls[0].headers: want an object of strings, got an array`},
		{`{"urls": [{"url": "http://a/", "headers": {"A": 1}}]}`, `urls[0].headers: want an object of strings, got a number in it`},
		{`{"urls": ["http://a/"], "timeout_ms": "5s"}`, `timeout_ms: want a whole number, got a string`},
		{`{"urls": ["http://a/"], "timeout_ms": 1.5}`, `timeout_ms: want a whole number, got 1.5`},
		{`{"urls": ["http://a/"], "method": 5}`, `method: want a string, got a number`},
		{`{"urls": ["http://a/"], "headers": {"A": 5}}`, `headers: want an object of strings, got a number in it`},
		{`{"urls": ["http://a/"], "retry_on": 503}`, `retry_on: want an array of whole numbers, got a number`},
		{`{"urls": ["http://a/"], "retry_on": ["503"]}`, `retry_on: want an array of whole numbers, got a string in it`},
		{`{"urls": ["http://a/"], "robots": "yes"}`, `robots: want true or false, got a string`},
		{`{"urls": ["http://a/"], "per_host_rate": "2"}`, `per_host_rate: want a number, got a string`},
		{`{"urls": ["http://a/"], "follow_redirects": 1}`, `follow_redirects: want true or false, got a number`},
		{`{"urls": ["http://a/"], "priority": 1e40}`, `priority: want a whole number, got 1e40`},
	}
	for _, c := range cases {
		_, err := DecodeBatch([]byte(c.data), "")
		if !errors.Is(err, ErrBadBatch) {
			t.Errorf("%s: err = %v, want ErrBadBatch", c.data, err)
			continue
		}
		if got, want := err.Error(), "invalid batch: "+c.want; got != want {
			t.Errorf("%s:\n got %s\nwant %s", c.data, got, want)
		}
		if strings.Contains(err.Error(), "Go ") || strings.Contains(err.Error(), "unmarshal") {
			t.Errorf("%s: error %q speaks of Go", c.data, err)
		}
	}
}

// What a type error repeats of its input is bounded: a hostile number of
// 100,000 digits is cut, as field names are (the error goes into the
// summary, the reply and the dead letter).
func TestDecodeBatchTypeErrorBounded(t *testing.T) {
	_, err := DecodeBatch([]byte(`{"urls": ["http://a/"], "timeout_ms": 1`+strings.Repeat("0", 100000)+`}`), "")
	if !errors.Is(err, ErrBadBatch) || len(err.Error()) > 200 || !strings.HasPrefix(err.Error(), "invalid batch: timeout_ms: want a whole number, got 1000") {
		t.Errorf("err = %.300v (%d bytes)", err, len(err.Error()))
	}
}

// Malformed JSON is still said as the decoder says it.
func TestDecodeBatchSyntaxErrorsUnchanged(t *testing.T) {
	for data, want := range map[string]string{
		`[1,`:          `JSON array of URL strings expected: unexpected end of JSON input`,
		`{"urls": [1,`: `JSON object {"urls": [...]} expected: unexpected EOF`,
	} {
		if _, err := DecodeBatch([]byte(data), ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", data, err, want)
		}
	}
}

// A request object decoded alone (as a client does) says which item kind
// it wants.
func TestRequestUnmarshalWrongType(t *testing.T) {
	var r Request
	err := r.UnmarshalJSON([]byte(`42`))
	if err == nil || err.Error() != "an item of urls: want a URL string or a request object, got a number" {
		t.Errorf("err = %v", err)
	}
}
