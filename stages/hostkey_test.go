package stages

import "testing"

func TestHostKey(t *testing.T) {
	cases := []struct{ url, want string }{
		{"http://Example.COM/a", "example.com:80"},
		{"http://example.com:80/b", "example.com:80"},
		{"https://example.com/", "example.com:443"},
		{"https://example.com:443/", "example.com:443"},
		{"http://example.com:8080/", "example.com:8080"},
		{"http://[::1]:9/", "::1:9"},
		{"not a url", ""},
	}
	for _, c := range cases {
		if got := hostKey(c.url); got != c.want {
			t.Errorf("hostKey(%q) = %q, want %q", c.url, got, c.want)
		}
	}
}
