package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestSplitBatches(t *testing.T) {
	urls := make([]string, 25)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://example.com/%02d", i)
	}
	cases := []struct {
		name     string
		size     int
		maxBytes int64
		want     []int
	}{
		{"one batch", 100, 1 << 20, []int{25}},
		{"by count", 10, 1 << 20, []int{10, 10, 5}},
		{"by bytes", 100, 256 + 10*(int64(len(urls[0]))+8), []int{10, 10, 5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := splitBatches(urls, c.size, c.maxBytes, "crawl", 500)
			var sizes []int
			next := 0
			for i, b := range got {
				sizes = append(sizes, len(b.URLs))
				for _, u := range b.URLs {
					if u != urls[next] {
						t.Fatalf("batch %d has %s, want %s: order lost", i, u, urls[next])
					}
					next++
				}
				if len(got) > 1 && (b.ID != fmt.Sprintf("crawl-%d", i+1) || b.CorrelationID != "crawl") {
					t.Errorf("batch %d: id %q correlation %q", i, b.ID, b.CorrelationID)
				}
				if len(got) == 1 && (b.ID != "crawl" || b.CorrelationID != "") {
					t.Errorf("single batch: id %q correlation %q", b.ID, b.CorrelationID)
				}
				data, _ := json.Marshal(b)
				if int64(len(data)) > c.maxBytes {
					t.Errorf("batch %d is %d bytes, over %d", i, len(data), c.maxBytes)
				}
				if b.TimeoutMS != 500 {
					t.Errorf("batch %d lost its timeout", i)
				}
			}
			if fmt.Sprint(sizes) != fmt.Sprint(c.want) {
				t.Errorf("sizes %v, want %v", sizes, c.want)
			}
		})
	}
	if id := splitBatches([]string{"http://a"}, 1, 1<<20, "", 0)[0].ID; strings.TrimSpace(id) == "" {
		t.Error("no id made for an unnamed batch")
	}
}
