package client

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/fetchstream/fetchstream/wire"
)

// split keeps the list's order, cuts by count and by bytes, names the
// parts ID-1, ID-2, ... with the correlation id ID (or the one given),
// and keeps the batch's settings on every part.
func TestSplit(t *testing.T) {
	urls := make([]string, 25)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://example.com/%02d", i)
	}
	prio := 3
	cases := []struct {
		name        string
		correlation string
		size        int
		maxBytes    int64
		want        []int
		wantCorr    string
	}{
		{"one batch", "", 100, 1 << 20, []int{25}, ""},
		{"by count", "", 10, 1 << 20, []int{10, 10, 5}, "crawl"},
		{"by bytes", "", 100, 400, nil, "crawl"}, // each part under 400 bytes
		{"given correlation id", "flow", 10, 1 << 20, []int{10, 10, 5}, "flow"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := wire.Batch{ID: "crawl", URLs: wire.URLs(urls...), TimeoutMS: 500, Priority: &prio, Concurrency: 2, CorrelationID: c.correlation}
			parts, err := split(b, c.size, c.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			var sizes []int
			next := 0
			for i, p := range parts {
				sizes = append(sizes, len(p.batch.URLs))
				if p.first != next {
					t.Errorf("part %d starts at %d, want %d", i, p.first, next)
				}
				for _, item := range p.batch.URLs {
					if u := item.URL; u != urls[next] {
						t.Fatalf("part %d has %s, want %s: order lost", i, item.URL, urls[next])
					}
					next++
				}
				wantID := "crawl"
				if len(parts) > 1 {
					wantID = fmt.Sprintf("crawl-%d", i+1)
				}
				if p.batch.ID != wantID || p.batch.CorrelationID != c.wantCorr {
					t.Errorf("part %d: id %q correlation %q, want %q %q", i, p.batch.ID, p.batch.CorrelationID, wantID, c.wantCorr)
				}
				if int64(len(p.data)) > c.maxBytes {
					t.Errorf("part %d is %d bytes, over %d", i, len(p.data), c.maxBytes)
				}
				if p.batch.TimeoutMS != 500 || *p.batch.Priority != 3 || p.batch.Concurrency != 2 {
					t.Errorf("part %d lost the batch's settings: %+v", i, p.batch)
				}
			}
			if c.want == nil && len(parts) < 3 {
				t.Errorf("sizes %v: not cut by bytes", sizes)
			}
			if c.want != nil && fmt.Sprint(sizes) != fmt.Sprint(c.want) {
				t.Errorf("sizes %v, want %v", sizes, c.want)
			}
		})
	}
	batches, err := Split(wire.Batch{ID: "crawl", URLs: wire.URLs(urls...)}, 10, 1<<20)
	if err != nil || len(batches) != 3 || batches[2].ID != "crawl-3" || len(batches[2].URLs) != 5 {
		t.Errorf("Split: %v, %+v", err, batches)
	}
	parts, err := split(wire.Batch{URLs: wire.URLs(urls[:1]...)}, 10, 1<<20)
	if err != nil || len(parts[0].batch.ID) != 22 {
		t.Errorf("an unnamed batch gets id %q (%v), want a new unique id", parts[0].batch.ID, err)
	}
}

func TestPeekBatchID(t *testing.T) {
	cases := []struct {
		data string
		id   string
		ok   bool
	}{
		{`{"batch_id":"b1","index":0}`, "b1", true},
		{`{"body":{"batch_id":"inner"},"index":2,"batch_id":"b2"}`, "b2", true},
		{`{"index":0}`, "", false},
		{`[1,2]`, "", false},
		{`{"batch_id":3}`, "", false},
		{`not json`, "", false},
	}
	for _, c := range cases {
		if id, ok := peekBatchID([]byte(c.data)); id != c.id || ok != c.ok {
			t.Errorf("peekBatchID(%s) = %q, %v; want %q, %v", c.data, id, ok, c.id, c.ok)
		}
	}
}

// WithRequestOptions fills what a batch leaves empty; the batch's own
// settings win, and its headers are laid over the client's.
func TestWithRequestOptions(t *testing.T) {
	no := false
	d := wire.RequestOptions{Method: "POST", Credential: "api", UserAgent: "c", ResponseHeaders: []string{"ETag"},
		FollowRedirects: &no, RetryOn: []int{503}, RetryUnsafe: true, Headers: map[string]string{"A": "client", "B": "client"}}
	got := withRequestDefaults(wire.Batch{RequestOptions: wire.RequestOptions{Method: "PUT", Headers: map[string]string{"a": "batch"}}}, d)
	o := got.RequestOptions
	if o.Method != "PUT" || o.Credential != "api" || o.UserAgent != "c" || o.ResponseHeaders[0] != "ETag" || o.Follow() ||
		o.RetryOn[0] != 503 || !o.RetryUnsafe || o.Headers["a"] != "batch" || o.Headers["B"] != "client" || o.Headers["A"] != "" {
		t.Errorf("merged %+v", o)
	}
	if got := withRequestDefaults(wire.Batch{}, wire.RequestOptions{}); !reflect.DeepEqual(got, wire.Batch{}) {
		t.Errorf("no defaults changed the batch: %+v", got)
	}
	for _, bad := range []wire.RequestOptions{{RetryOn: []int{404}}, {ResponseHeaders: []string{"a b"}}, {UserAgent: "a\nb"}} {
		c := &Client{}
		err := WithRequestOptions(bad)(c)
		if !errors.Is(err, ErrConfig) || !errors.Is(err, wire.ErrBadBatch) {
			t.Errorf("%+v: err %v, want ErrConfig and wire.ErrBadBatch", bad, err)
		}
		if err != nil && strings.Count(err.Error(), "invalid") != 1 {
			t.Errorf("%+v: %q, want one \"invalid\"", bad, err)
		}
	}
}
