package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A file is read in every batch form the README lists: one URL a line
// (# comment lines skipped), a JSON array of URL strings, or a JSON
// object with its settings; an array of anything else is refused.
func TestURLListFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text string
		want       []string
		err        string
	}{
		{name: "lines", text: "http://a\n\n  http://b  \r\nhttp://c", want: []string{"http://a", "http://b", "http://c"}},
		{name: "comments", text: "# my sites\nhttp://a\n  # not this one: http://x\nhttp://b#frag\n", want: []string{"http://a", "http://b#frag"}},
		{name: "array", text: "\n [\"http://a\",\n \"http://b\"]\n", want: []string{"http://a", "http://b"}},
		{name: "object", text: `{"id": "b1", "urls": ["http://a", {"url": "http://b", "method": "HEAD"}], "timeout_ms": 2000}`, want: []string{"http://a", "http://b"}},
		{name: "empty", text: "\n\n", want: nil},
		{name: "only comments", text: "# nothing yet\n", want: nil},
		{name: "objects", text: `[{"url": "http://a"}]`, err: `[0]: want a URL string (request objects go in the object form, {"urls": [...]}), got an object`},
		{name: "numbers", text: `[1, 2]`, err: `[0]: want a URL string, got a number`},
		{name: "broken", text: `["http://a",`, err: "JSON array of URL strings"},
		{name: "unknown field", text: `{"url": ["http://a"]}`, err: `unknown field "url"`},
	} {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readURLListFile(path)
		var urls []string
		for _, r := range got.URLs {
			urls = append(urls, r.URL)
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "invalid batch") {
				t.Errorf("%s: %q, %v; want an error naming the file and saying %q", tc.name, urls, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(urls, tc.want) {
			t.Errorf("%s: %q, %v; want %q", tc.name, urls, err, tc.want)
		}
		if tc.name == "object" && (got.ID != "b1" || got.TimeoutMS != 2000 || got.URLs[1].Method != "HEAD") {
			t.Errorf("object: %+v: want its id, timeout and request kept", got)
		}
	}
	if _, err := readURLListFile(filepath.Join(dir, "absent")); err == nil {
		t.Error("an absent file was read")
	}
}
