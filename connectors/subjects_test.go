package connectors

import "testing"

func TestSubjectsCollide(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"fetch.urls", "fetch.urls", true},
		{"fetch.urls", "fetch.results", false},
		{"fetch.urls", "fetch", false},
		{"fetch", "fetch.urls", false},
		{"fetch.*", "fetch.results", true},
		{"fetch.*", "fetch", false},
		{"fetch.*", "fetch.a.b", false},
		{"*.urls", "fetch.*", true},
		{"*.urls", "fetch.results", false},
		{"*", "fetch", true},
		{"*", "fetch.urls", false},
		{"*.*", "a.*", true},
		{"fetch.>", "fetch.a", true},
		{"fetch.>", "fetch.a.b.c", true},
		{"fetch.>", "fetch", false}, // ">" needs at least one token
		{"fetch.>", "fetch.*", true},
		{"fetch.>", "other.>", false},
		{">", "fetch.urls", true},
		{">", "$SRV.PING", true},
		{"$SRV.>", "fetch.*", false},
		{"$SRV.>", "*.PING", true},
		{"$SRV.PING.fetchstream", "$SRV.*.*", true},
		{"fetch.*.x", "fetch.>", true},
		{"fetch.*.x", "fetch.a.y", false},
		{"a.b.>", "a.*.c.d", true},
		{"a.b.>", "a.c.>", false},
		{"_INBOX.abc", "_INBOX.>", true},
	}
	for _, c := range cases {
		if got := SubjectsCollide(c.a, c.b); got != c.want {
			t.Errorf("SubjectsCollide(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := SubjectsCollide(c.b, c.a); got != c.want {
			t.Errorf("SubjectsCollide(%q, %q) = %v, want %v (not symmetric)", c.b, c.a, got, c.want)
		}
	}
}
