package settings

import (
	"flag"
	"io"
	"slices"
	"testing"
)

// Flags after the URLs are parsed as flags, not sent as URLs; "--" ends
// the flags; an unknown flag after a URL is an error naming it.
func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args, want []string
		json       bool
		id         string
	}{
		{args: []string{"http://a", "--json", "http://b"}, want: []string{"http://a", "http://b"}, json: true},
		{args: []string{"http://a", "--id", "x", "-", "--json"}, want: []string{"http://a", "-"}, json: true, id: "x"},
		{args: []string{"http://a", "--", "--json"}, want: []string{"http://a", "--json"}},
		{args: []string{"http://a", "--id", "x", "--", "--json"}, want: []string{"http://a", "--json"}, id: "x"},
		{args: nil, want: nil},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		asJSON := fs.Bool("json", false, "")
		id := fs.String("id", "", "")
		got, err := ParseInterleaved(fs, tc.args)
		if err != nil || !slices.Equal(got, tc.want) || *asJSON != tc.json || *id != tc.id {
			t.Errorf("%q: %q, json %v, id %q, err %v; want %q, json %v, id %q", tc.args, got, *asJSON, *id, err, tc.want, tc.json, tc.id)
		}
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := ParseInterleaved(fs, []string{"http://a", "--nosuch"}); err == nil {
		t.Error("an unknown flag after a URL was accepted")
	}
}
