package urllist

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A file that starts with [ is a JSON array of URL strings, any other one
// URL per line; an array of anything else is refused.
func TestFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text string
		want       []string
		err        string
	}{
		{name: "lines", text: "http://a\n\n  http://b  \r\nhttp://c", want: []string{"http://a", "http://b", "http://c"}},
		{name: "array", text: "\n [\"http://a\",\n \"http://b\"]\n", want: []string{"http://a", "http://b"}},
		{name: "empty", text: "\n\n", want: nil},
		{name: "objects", text: `[{"url": "http://a"}]`, err: "not a JSON array of URL strings"},
		{name: "broken", text: `["http://a",`, err: "not a JSON array of URL strings"},
	} {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := File(path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) {
				t.Errorf("%s: %q, %v; want an error naming the file and saying %q", tc.name, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := File(filepath.Join(dir, "absent")); err == nil {
		t.Error("an absent file was read")
	}
}
