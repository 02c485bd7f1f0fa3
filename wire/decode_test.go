package wire

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeBatch(t *testing.T) {
	two := []string{"http://a/", "https://b/x?y=z"}
	cases := []struct {
		name      string
		data      string
		header    string
		id        string
		urls      []string
		timeoutMS int64
		err       string // in the error; "" for none
	}{
		{"text", "http://a/\nhttps://b/x?y=z\n", "h", "h", two, 0, ""},
		{"text with CRLF, blanks and spaces", "\r\n  http://a/ \r\n\r\n\thttps://b/x?y=z\r\n", "", "", two, 0, ""},
		{"array", `["http://a/", "https://b/x?y=z"]`, "h", "h", two, 0, ""},
		{"object", `{"id": "o", "urls": ["http://a/", "https://b/x?y=z"], "timeout_ms": 250}`, "h", "o", two, 250, ""},
		{"object without id takes the header", `{"urls": ["http://a/"]}`, "h", "h", []string{"http://a/"}, 0, ""},
		{"byte order mark", "\ufeff[\"http://a/\"]", "", "", []string{"http://a/"}, 0, ""},
		{"array trims as text does", "[\" http://a/\", \"https://b/x?y=z\\r\\n\"]", "", "", two, 0, ""},
		{"object trims as text does", `{"urls": ["\thttp://a/ ", " https://b/x?y=z"]}`, "", "", two, 0, ""},
		{"a blank JSON URL keeps its place", `["  ", "http://a/"]`, "", "", []string{"", "http://a/"}, 0, ""},
		{"space inside is kept for invalid_url", `["http://a/b c"]`, "", "", []string{"http://a/b c"}, 0, ""},
		{"a request object's URL trims too", `{"urls": [{"url": " http://a/\n"}, "https://b/x?y=z"]}`, "", "", two, 0, ""},
		{"bad URLs are kept for a per-URL error", `["", "not a url", "ftp://x"]`, "", "", []string{"", "not a url", "ftp://x"}, 0, ""},
		{"empty", "", "", "", nil, 0, "empty message"},
		{"blank", " \n\t\r\n", "", "", nil, 0, "empty message"},
		{"binary", "\xff\xfe\x00\x01", "", "", nil, 0, "not UTF-8"},
		{"invalid JSON array", `["http://a/",`, "", "", nil, 0, "JSON array"},
		{"invalid JSON object", `{"urls": [`, "", "", nil, 0, "JSON object"},
		{"urls not an array", `{"urls": "http://a/"}`, "", "", nil, 0, "urls: want an array of URL strings and request objects, got a string"},
		{"numbers for URLs", `[1, 2]`, "", "", nil, 0, "[0]: want a URL string, got a number"},
		{"id a number", `{"id": 5, "urls": ["http://a/"]}`, "", "", nil, 0, "id: want a string, got a number"},
		{"timeout a string", `{"urls": ["http://a/"], "timeout_ms": "5"}`, "", "", nil, 0, "timeout_ms: want a whole number, got a string"},
		{"timeout overflows", `{"urls": ["http://a/"], "timeout_ms": 1e30}`, "", "", nil, 0, "timeout_ms: want a whole number, got 1e30"},
		{"negative timeout", `{"urls": ["http://a/"], "timeout_ms": -1}`, "", "", nil, 0, "timeout_ms"},
		{"negative concurrency", `{"urls": ["http://a/"], "concurrency": -1}`, "", "", nil, 0, "concurrency"},
		{"priority out of range", `{"urls": ["http://a/"], "priority": 11}`, "", "", nil, 0, "priority"},
		{"no URLs in an array", `[]`, "", "", nil, 0, "no URLs"},
		{"no URLs in an object", `{"id": "x"}`, "", "", nil, 0, "no URLs"},
		{"null", `null`, "", "", []string{"null"}, 0, ""}, // text form: the URL "null", invalid when fetched
		{"trailing garbage", `["http://a/"] x`, "", "", nil, 0, "JSON array"},
		{"deep nesting", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), "", "", nil, 0, "JSON array"},
		{"header id not UTF-8", "http://a/", "b\xff1", "", nil, 0, "not UTF-8"},
		{"header id too long", "http://a/", strings.Repeat("i", MaxIDLength+1), "", nil, 0, "batch id longer"},
		{"object id too long", `{"id": "` + strings.Repeat("i", MaxIDLength+1) + `", "urls": ["http://a/"]}`, "", "", nil, 0, "batch id longer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := DecodeBatch([]byte(c.data), c.header)
			if c.err != "" {
				if !errors.Is(err, ErrBadBatch) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want ErrBadBatch mentioning %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.ID != c.id || !slices.Equal(urlsOf(b.URLs), c.urls) || b.TimeoutMS != c.timeoutMS {
				t.Errorf("got %+v, want id %q urls %q timeout %d", b, c.id, c.urls, c.timeoutMS)
			}
		})
	}
}

func TestDecodeBatchFairnessFields(t *testing.T) {
	b, err := DecodeBatch([]byte(`{"urls":["http://a"],"concurrency":2,"priority":3,"correlation_id":"c"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if b.Concurrency != 2 || b.Priority == nil || *b.Priority != 3 || b.CorrelationID != "c" {
		t.Errorf("got %+v", b)
	}
	for _, bad := range []string{
		`{"urls":["http://a"],"priority":-1}`,
		`{"urls":["http://a"],"priority":10}`,
		`{"urls":["http://a"],"correlation_id":"` + strings.Repeat("c", MaxIDLength+1) + `"}`,
	} {
		if _, err := DecodeBatch([]byte(bad), ""); !errors.Is(err, ErrBadBatch) {
			t.Errorf("%s: err %v, want ErrBadBatch", bad, err)
		}
	}
}

func TestEchoedID(t *testing.T) {
	long := strings.Repeat("i", MaxIDLength-1) + "é" + "tail" // é straddles the limit
	cases := []struct {
		sent, id string
		cut      bool
	}{
		{"b1", "b1", false},
		{strings.Repeat("i", MaxIDLength), strings.Repeat("i", MaxIDLength), false},
		{strings.Repeat("i", MaxIDLength+1), strings.Repeat("i", MaxIDLength), true},
		{long, strings.Repeat("i", MaxIDLength-1), true},
		{"b\xff1", "b\uFFFD1", false},
	}
	for _, c := range cases {
		id, cut := EchoedID(c.sent)
		if id != c.id || cut != c.cut || len(id) > MaxIDLength || !utf8.ValidString(id) {
			t.Errorf("EchoedID(%.20q...) = %.20q..., %v; want %.20q..., %v", c.sent, id, cut, c.id, c.cut)
		}
	}
}

func TestDecodeBatchPolitenessFields(t *testing.T) {
	b, err := DecodeBatch([]byte(`{"urls":["http://a"],"per_host_rate":0.5,"robots":true}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if b.PerHostRate != 0.5 || !b.Robots {
		t.Errorf("got %+v", b)
	}
	if _, err := DecodeBatch([]byte(`{"urls":["http://a"],"per_host_rate":-1}`), ""); !errors.Is(err, ErrBadBatch) {
		t.Errorf("negative per_host_rate: err %v, want ErrBadBatch", err)
	}
}

func urlsOf(requests []Request) []string {
	var urls []string
	for _, r := range requests {
		urls = append(urls, r.URL)
	}
	return urls
}
