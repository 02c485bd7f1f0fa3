package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The amplification: 30,000 default headers over 1,500 URLs, one
// 544 KB message that cost 46 s of CPU and 1.3 GB once merged into every
// request. It is refused as it is decoded, at the cost of reading it.
func TestDefaultHeadersOverEveryURLRefused(t *testing.T) {
	data := amplification(30000, 1500)
	start := time.Now()
	_, err := DecodeBatch(data, "")
	took := time.Since(start)
	if !errors.Is(err, ErrBadBatch) || !strings.Contains(err.Error(), "30000 default headers, more than the 100") {
		t.Fatalf("%d-byte batch of 30,000 default headers: err %v, want it refused naming the count", len(data), err)
	}
	t.Logf("%d-byte message refused in %s", len(data), took)
}

// amplification is a batch of n default headers over urls URLs.
func amplification(n, urls int) []byte {
	b := Batch{RequestOptions: RequestOptions{Headers: map[string]string{}}}
	for i := range n {
		b.Headers[fmt.Sprintf("X-%d", i)] = "v"
	}
	for i := range urls {
		b.URLs = append(b.URLs, Request{URL: fmt.Sprintf("http://a/%d", i)})
	}
	data, _ := json.Marshal(b)
	return data
}

// MaxRequestHeaders counts a request's headers merged: an item's header
// that replaces a default (in any case) counts once.
func TestMaxRequestHeaders(t *testing.T) {
	headers := func(prefix string, n int) map[string]string {
		h := map[string]string{}
		for i := range n {
			h[fmt.Sprintf("%s-%d", prefix, i)] = "v"
		}
		return h
	}
	for _, c := range []struct {
		name           string
		defaults, item map[string]string
		ok             bool
	}{
		{"100 defaults", headers("D", 100), nil, true},
		{"101 defaults", headers("D", 101), nil, false},
		{"101 own", nil, headers("I", 101), false},
		{"60 and 40", headers("D", 60), headers("I", 40), true},
		{"60 and 41", headers("D", 60), headers("I", 41), false},
		{"60 and 60 of the same names", headers("D", 60), headers("d", 60), true},
	} {
		b := Batch{RequestOptions: RequestOptions{Headers: c.defaults},
			URLs: []Request{{URL: "http://a/0"}, {URL: "http://a/1", Headers: c.item}}}
		data, _ := json.Marshal(b)
		_, err := DecodeBatch(data, "")
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrBadBatch)) {
			t.Errorf("%s: err %v, want ok %v", c.name, err, c.ok)
		}
	}
}

// Expansion counts default headers once per URL, and each item's own
// headers and body once.
func TestExpansion(t *testing.T) {
	b := Batch{RequestOptions: RequestOptions{Headers: map[string]string{"Ab": "cde"}}, // 5 bytes
		URLs: []Request{{URL: "http://a/0"}, {URL: "http://a/1", Headers: map[string]string{"X": "yz"}, Body: json.RawMessage(`"hello"`)},
			{URL: "http://a/2", BodyBase64: "aGVsbG8h"}}}
	if got, want := b.Expansion(), int64(3*5+3+7+6); got != want {
		t.Errorf("Expansion = %d, want %d", got, want)
	}
}
