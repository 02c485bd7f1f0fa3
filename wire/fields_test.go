package wire

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// An unknown field is an error naming it, not ignored: {"url": [...]}
// used to say "no URLs", and a misspelt "robot" silently crawled without
// robots.txt.
func TestDecodeBatchUnknownFields(t *testing.T) {
	cases := []struct {
		name, data string
		want       []string // in the error
	}{
		{"url for urls", `{"url": ["http://a/"]}`, []string{`unknown field "url" (did you mean "urls"?)`, "its fields are id, urls, timeout_ms"}},
		{"two unknown, in order", `{"urls": ["http://a/"], "robot": true, "zzz_extra": 1}`, []string{`unknown fields "robot" (did you mean "robots"?), "zzz_extra"`}},
		{"in a request object", `{"urls": [{"url": "http://a/", "hdrs": {"A": "b"}}]}`, []string{`the request object for "http://a/" has unknown field "hdrs"`, "url, method, headers"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeBatch([]byte(c.data), "")
			if !errors.Is(err, ErrBadBatch) {
				t.Fatalf("err = %v, want ErrBadBatch", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "no URLs") || strings.Contains(err.Error(), "expected") {
				t.Errorf("error %q should name the field alone", err)
			}
		})
	}
	// encoding/json matches names case-insensitively; so does the check.
	if _, err := DecodeBatch([]byte(`{"URLs": ["http://a/"], "Timeout_MS": 5}`), ""); err != nil {
		t.Errorf("fields in another case: %v", err)
	}
}

// A text batch skips # comment lines, as config files and URL lists do.
func TestDecodeBatchTextComments(t *testing.T) {
	b, err := DecodeBatch([]byte("# my list\nhttp://a/\n  # indented comment\nhttp://b/#frag\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.URLs) != 2 || b.URLs[0].URL != "http://a/" || b.URLs[1].URL != "http://b/#frag" {
		t.Fatalf("URLs = %+v, want http://a/ and http://b/#frag", b.URLs)
	}
	if _, err := DecodeBatch([]byte("# only a comment\n"), ""); err == nil || !strings.Contains(err.Error(), "no URLs") {
		t.Fatalf("a list of comments: err = %v, want no URLs", err)
	}
}

// A hostile batch object with thousands of unknown fields, or huge field
// names, is refused at once with an error of bounded size: the error goes
// into the summary, the reply and the dead letter. The fields were sorted
// by a scan of the input per comparison (minutes of CPU for 20,000 keys);
// refusing them takes about 0.3s now, and the bound is far above that so
// that only a return of the quadratic cost fails it, not a loaded machine
// (it took 2.1s once under a full -race run beside other work).
func TestDecodeBatchUnknownFieldsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"urls":["https://example.com"], "` + strings.Repeat("x", 100000) + `": 1`)
	for i := range 20000 {
		fmt.Fprintf(&b, `,"k%06d":0`, i)
	}
	b.WriteString("}")
	start := time.Now()
	_, err := DecodeBatch([]byte(b.String()), "")
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("refusing %d bytes took %v", b.Len(), took)
	}
	if !errors.Is(err, ErrBadBatch) {
		t.Fatalf("err = %v, want ErrBadBatch", err)
	}
	if n := len(err.Error()); n > 2000 {
		t.Errorf("error is %d bytes: %.300s...", n, err)
	}
	if !strings.Contains(err.Error(), `"k000000"`) || !strings.Contains(err.Error(), "and 19993 more") {
		t.Errorf("error %.500s does not name the first fields and count the rest", err)
	}
	long := `{"urls": [{"url": "http://a/` + strings.Repeat("p", 100000) + `", "hdrs": 1}]}`
	if _, err := DecodeBatch([]byte(long), ""); err == nil || len(err.Error()) > 2000 {
		t.Errorf("a request object's long url is repeated in full: %d bytes", len(err.Error()))
	}
}

// EditDistance counts insertions, deletions and substitutions, and gives
// up (64) on strings over 64 bytes.
func TestEditDistance(t *testing.T) {
	long := strings.Repeat("x", 65)
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"urls", "urls", 0}, {"", "abc", 3}, {"url", "urls", 1},
		{"robot", "robots", 1}, {"kitten", "sitting", 3}, {"timout", "timeout", 1},
		{long, long, 64}, {"x", long, 64},
	} {
		if got := EditDistance(c.a, c.b); got != c.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
