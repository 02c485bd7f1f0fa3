package wire

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDecodeBatch(t *testing.T) {
	three := 3
	cases := []struct {
		name     string
		data     string
		headerID string
		want     Batch
		err      string
	}{
		{"text lines", "http://a\n\n  http://b  \r\nhttp://c\n", "", Batch{URLs: []string{"http://a", "http://b", "http://c"}}, ""},
		{"text with header id", "http://a", "h1", Batch{ID: "h1", URLs: []string{"http://a"}}, ""},
		{"array", ` ["http://a", "http://b"] `, "h2", Batch{ID: "h2", URLs: []string{"http://a", "http://b"}}, ""},
		{"object", `{"id":"b1","urls":["http://a"],"timeout_ms":2000}`, "", Batch{ID: "b1", URLs: []string{"http://a"}, TimeoutMS: 2000}, ""},
		{"object id wins over header", `{"id":"b1","urls":["http://a"]}`, "h", Batch{ID: "b1", URLs: []string{"http://a"}}, ""},
		{"object without id takes header", `{"urls":["http://a"]}`, "h", Batch{ID: "h", URLs: []string{"http://a"}}, ""},
		{"object with fairness fields", `{"urls":["http://a"],"concurrency":2,"priority":3,"correlation_id":"c"}`, "",
			Batch{URLs: []string{"http://a"}, Concurrency: 2, Priority: &three, CorrelationID: "c"}, ""},
		{"bad URL kept for the fetch to reject", `["not a url"]`, "", Batch{URLs: []string{"not a url"}}, ""},
		{"empty", "", "", Batch{}, "empty message"},
		{"blank", " \n\t ", "", Batch{}, "empty message"},
		{"not UTF-8", "\xff\xfe", "", Batch{}, "not UTF-8"},
		{"truncated JSON", `{"urls": [`, "", Batch{}, "JSON object"},
		{"wrong type", `{"urls": "http://a"}`, "", Batch{}, "JSON object"},
		{"array of numbers", `[1,2]`, "", Batch{}, "JSON array"},
		{"empty array", `[]`, "", Batch{}, "no URLs"},
		{"object without urls", `{"id":"x"}`, "", Batch{}, "no URLs"},
		{"negative timeout", `{"urls":["http://a"],"timeout_ms":-5}`, "", Batch{}, "timeout_ms"},
		{"negative concurrency", `{"urls":["http://a"],"concurrency":-1}`, "", Batch{}, "concurrency"},
		{"priority out of range", `{"urls":["http://a"],"priority":10}`, "", Batch{}, "priority"},
		{"id too long", `{"id":"` + strings.Repeat("x", MaxIDLength+1) + `","urls":["http://a"]}`, "", Batch{}, "longer than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeBatch([]byte(c.data), c.headerID)
			if c.err != "" {
				if err == nil || !errors.Is(err, ErrBadBatch) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want ErrBadBatch containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			samePriority := (got.Priority == nil) == (c.want.Priority == nil) &&
				(got.Priority == nil || *got.Priority == *c.want.Priority)
			if got.ID != c.want.ID || !slices.Equal(got.URLs, c.want.URLs) || got.TimeoutMS != c.want.TimeoutMS ||
				got.Concurrency != c.want.Concurrency || !samePriority || got.CorrelationID != c.want.CorrelationID {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}
