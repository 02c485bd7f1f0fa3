package httpfetch

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
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
