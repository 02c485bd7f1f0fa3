package httpfetch

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// MaxURLLength bounds a URL; longer ones are invalid_url without a request.
const MaxURLLength = 8 << 10

// ParseTarget accepts only absolute http and https URLs with a host and,
// if any, a port from 1 to 65535, of at most MaxURLLength bytes; anything
// else (file:, gopher:, ftp:, a relative or host-less URL) is an error
// wrapping ErrInvalidURL. So is a URL holding a space or a control
// character anywhere (Unicode's, not only ASCII's): url.Parse would take
// some of them and the request would go out to a URL the batch did not
// name; a client percent-encodes them (%20). The decoder trims the space
// around a URL, in every batch form, before it gets here. ParseTarget
// judges the URL only: where the host leads is the network policy's
// business, at dial time.
func ParseTarget(rawURL string) (*url.URL, error) {
	if len(rawURL) > MaxURLLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidURL, MaxURLLength)
	}
	u, err := url.Parse(rawURL)
	if err != nil && spaceOrControl(rawURL) >= 0 {
		return nil, badChar(rawURL) // the cause, where url.Parse would name a symptom
	}
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
	if spaceOrControl(rawURL) >= 0 {
		return nil, badChar(rawURL)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: port %s is not from 1 to 65535", ErrInvalidURL, port)
		}
	}
	return u, nil
}

// spaceOrControl is the byte offset of the first space or control
// character in s, or -1.
func spaceOrControl(s string) int {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

func badChar(rawURL string) error {
	i := spaceOrControl(rawURL)
	r := []rune(rawURL[i:])[0]
	return fmt.Errorf("%w: a space or control character (%U) at byte %d: percent-encode it", ErrInvalidURL, r, i)
}
