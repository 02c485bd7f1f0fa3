package stages

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// HostKeyMode says what the per-host cap, rate and pause count as one host.
type HostKeyMode string

// The host key modes.
const (
	// HostKeyHost keys by host name and port (the default): example.com:443.
	HostKeyHost HostKeyMode = "host"
	// HostKeyDomain keys by registrable domain (eTLD+1, from the public
	// suffix list), whatever the port: a.example.com and b.example.com:8443
	// share one key, example.com. An IP address or a name with no
	// registrable domain (localhost) is its own key.
	HostKeyDomain HostKeyMode = "domain"
)

// ParseHostKeyMode accepts "host" (or "") and "domain".
func ParseHostKeyMode(s string) (HostKeyMode, error) {
	switch m := HostKeyMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "", HostKeyHost:
		return HostKeyHost, nil
	case HostKeyDomain:
		return m, nil
	}
	return "", fmt.Errorf("%w: host key must be host or domain, got %q", ErrConfig, s)
}

// hostKey names the host a URL's requests go to, for the per-host cap:
// the lower-cased host name and the port, the scheme's default when the
// URL names none, so http://Example.com and http://example.com:80 share a
// cap. URLs that do not parse all share the empty key (they fail without
// a request).
func hostKey(rawURL string) string {
	key, _ := targetKeys(rawURL, HostKeyHost)
	return key
}

// targetKeys parses rawURL once for the keys the scheduler needs: the
// host key in mode, and the robots.txt origin (scheme://host:port). Both
// are empty for a URL that does not parse or names no host.
func targetKeys(rawURL string, mode HostKeyMode) (key, origin string) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "", ""
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	host := strings.ToLower(u.Hostname())
	origin = scheme + "://" + net.JoinHostPort(host, port)
	if mode != HostKeyDomain {
		return host + ":" + port, origin
	}
	if net.ParseIP(host) != nil {
		return host, origin
	}
	domain, err := publicsuffix.EffectiveTLDPlusOne(strings.TrimSuffix(host, "."))
	if err != nil {
		return host, origin
	}
	return domain, origin
}
