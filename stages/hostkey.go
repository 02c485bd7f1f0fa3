package stages

import (
	"net/url"
	"strings"
)

// hostKey names the host a URL's requests go to, for the per-host cap:
// the lower-cased host name and the port, the scheme's default when the
// URL names none, so http://Example.com and http://example.com:80 share a
// cap. URLs that do not parse all share the empty key (they fail without
// a request).
func hostKey(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}
