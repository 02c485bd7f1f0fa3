package polite

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

// ParseHostKeyMode accepts "host" (or "") and "domain". Its error names
// the problem alone: the caller adds what it is (a stage's ErrConfig).
func ParseHostKeyMode(s string) (HostKeyMode, error) {
	switch m := HostKeyMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "", HostKeyHost:
		return HostKeyHost, nil
	case HostKeyDomain:
		return m, nil
	}
	return "", fmt.Errorf("host key must be host or domain, got %q", s)
}

// KeyOf is rawURL's host key in mode (see Target.Key), or "" for a URL
// that does not parse or names no host.
func KeyOf(rawURL string, mode HostKeyMode) string {
	t, ok := ParseTarget(rawURL)
	if !ok {
		return ""
	}
	return t.Key(mode)
}

// Target is where a URL's request goes: its scheme and host name, lower
// case, and its port, the scheme's default when the URL names none.
type Target struct{ scheme, host, port string }

// ParseTarget parses rawURL for its Target; ok is false for a URL that
// does not parse or names no host.
func ParseTarget(rawURL string) (t Target, ok bool) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return Target{}, false
	}
	t.scheme, t.port = strings.ToLower(u.Scheme), u.Port()
	if t.port == "" {
		t.port = "80"
		if t.scheme == "https" {
			t.port = "443"
		}
	}
	t.host = strings.ToLower(u.Hostname())
	return t, true
}

// Origin is the target's site for robots.txt: scheme://host:port.
func (t Target) Origin() string { return t.scheme + "://" + net.JoinHostPort(t.host, t.port) }

// Key is the target's host key in mode: host:port, or, in
// HostKeyDomain, the registrable domain (the host itself for an IP
// address or a name without one).
func (t Target) Key(mode HostKeyMode) string {
	if mode != HostKeyDomain {
		return t.host + ":" + t.port
	}
	if net.ParseIP(t.host) != nil {
		return t.host
	}
	domain, err := publicsuffix.EffectiveTLDPlusOne(strings.TrimSuffix(t.host, "."))
	if err != nil {
		return t.host
	}
	return domain
}
