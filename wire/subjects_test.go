package wire

import (
	"strings"
	"testing"
)

func TestValidSubject(t *testing.T) {
	cases := []struct {
		subject   string
		wildcards bool
		err       string // "": valid
	}{
		{"fetch.urls", false, ""},
		{"fetch.urls.*", true, ""},
		{"fetch.>", true, ""},
		{"_INBOX.abc", false, ""},
		{"", true, "empty subject"},
		{"fetch..urls", true, "empty token"},
		{"fetch.", false, "empty token"},
		{"fetch urls", true, "white space"},
		{"fetch.\turls", true, "white space"},
		{"fetch.*", false, "a wildcard"},
		{"fetch.>", false, "a wildcard"},
		{"fetch.>.x", true, "'>' must be the last token"},
	}
	for _, c := range cases {
		err := ValidSubject(c.subject, c.wildcards)
		if (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ValidSubject(%q, %v) = %v, want %q", c.subject, c.wildcards, err, c.err)
		}
	}
}

func TestSubjectMatches(t *testing.T) {
	cases := []struct {
		pattern, subject string
		want             bool
	}{
		{"fetch.urls", "fetch.urls", true},
		{"fetch.urls", "fetch.urls.x", false},
		{"fetch.*", "fetch.urls", true},
		{"fetch.*", "fetch.urls.x", false},
		{"fetch.>", "fetch.urls.x", true},
		{"fetch.>", "fetch", false},
		{"*.urls", "fetch.urls", true},
		{"fetch.urls.billing", "fetch.urls.other", false},
		{">", "", false},
	}
	for _, c := range cases {
		if got := SubjectMatches(c.pattern, c.subject); got != c.want {
			t.Errorf("SubjectMatches(%q, %q) = %v, want %v", c.pattern, c.subject, got, c.want)
		}
	}
}
