package stages

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// MaxURLLength bounds a URL; longer ones are invalid_url without a request.
const MaxURLLength = 8 << 10

// ParseTarget accepts only absolute http and https URLs with a host and,
// if any, a port from 1 to 65535, of at most MaxURLLength bytes; anything
// else (file:, gopher:, ftp:, a relative or host-less URL) is an error
// wrapping ErrInvalidURL. It judges the URL only: where the host leads is
// the network policy's business, at dial time.
func ParseTarget(rawURL string) (*url.URL, error) {
	if len(rawURL) > MaxURLLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidURL, MaxURLLength)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // without the URL, which the result already holds
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme must be http or https, got %q", ErrInvalidURL, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: port %s is not from 1 to 65535", ErrInvalidURL, port)
		}
	}
	return u, nil
}

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
