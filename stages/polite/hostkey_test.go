package polite

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

func TestTargetKeysByDomain(t *testing.T) {
	cases := []struct{ url, key, origin string }{
		{"http://a.example.com/x", "example.com", "http://a.example.com:80"},
		{"https://b.example.com:8443/", "example.com", "https://b.example.com:8443"},
		{"https://www.bbc.co.uk/news", "bbc.co.uk", "https://www.bbc.co.uk:443"},
		{"http://127.0.0.1:8080/", "127.0.0.1", "http://127.0.0.1:8080"},
		{"http://localhost:9/", "localhost", "http://localhost:9"},
		{"http://[::1]:9/", "::1", "http://[::1]:9"},
		{"not a url", "", ""},
	}
	for _, c := range cases {
		if key, origin := targetKeysOf(c.url, HostKeyDomain); key != c.key || origin != c.origin {
			t.Errorf("target of %q, in domain mode, = %q, %q, want %q, %q", c.url, key, origin, c.key, c.origin)
		}
	}
	if _, err := ParseHostKeyMode("registrable"); err == nil {
		t.Error("ParseHostKeyMode accepted an unknown mode")
	}
}

// targetKeysOf is rawURL's host key in mode and its robots.txt origin,
// both empty for a URL that does not parse or names no host.
func targetKeysOf(rawURL string, mode HostKeyMode) (key, origin string) {
	t, ok := ParseTarget(rawURL)
	if !ok {
		return "", ""
	}
	return t.Key(mode), t.Origin()
}

// hostKey names the host a URL's requests go to, for the per-host cap:
// the lower-cased host name and the port, the scheme's default when the
// URL names none, so http://Example.com and http://example.com:80 share a
// cap. URLs that do not parse all share the empty key (they fail without
// a request).
func hostKey(rawURL string) string { return KeyOf(rawURL, HostKeyHost) }
