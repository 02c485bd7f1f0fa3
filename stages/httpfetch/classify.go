package httpfetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/textproto"
	"os"
	"strings"
	"syscall"

	"github.com/fetchstream/fetchstream/wire"
)

var (
	// ErrTooManyRedirects is returned by the client's redirect check.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrInvalidURL is wrapped by URL validation failures.
	ErrInvalidURL = errors.New("invalid URL")
	// ErrBodyTooLarge is returned when a body over the cap is refused.
	ErrBodyTooLarge = errors.New("body over the size cap")
)

// Texts of net/http errors that have no sentinel or type.
const (
	headersTooLarge   = "server response headers exceeded"
	malformedResponse = "malformed HTTP"
)

// Classify maps an error from a fetch to its wire error kind and a message.
// The order matters: a deadline is a timeout even when it surfaces as a
// network error, and a policy refusal is blocked even though it fails the dial.
// Response headers over the transport's limit are too_large, and a reply
// that is not HTTP is a connection_error: net/http reports both only as
// text, so these two are recognised by their message.
func Classify(err error) (wire.ErrorKind, string) {
	if err == nil {
		return "", ""
	}
	msg := err.Error()
	var (
		netErr        net.Error
		dnsErr        *net.DNSError
		recordErr     tls.RecordHeaderError
		alertErr      tls.AlertError
		verifyErr     *tls.CertificateVerificationError
		unknownCAErr  x509.UnknownAuthorityError
		hostnameErr   x509.HostnameError
		certInvalid   x509.CertificateInvalidError
		opErr         *net.OpError
		protocolErr   textproto.ProtocolError
		syscallErrno  syscall.Errno
		isNetTimeout  = errors.As(err, &netErr) && netErr.Timeout()
		isDeadline    = errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)
		isTLSProblem  = errors.As(err, &recordErr) || errors.As(err, &alertErr) || errors.As(err, &verifyErr)
		isCertProblem = errors.As(err, &unknownCAErr) || errors.As(err, &hostnameErr) || errors.As(err, &certInvalid)
	)
	switch {
	case errors.Is(err, ErrBlocked):
		return wire.ErrBlocked, msg
	case errors.Is(err, ErrInvalidURL):
		return wire.ErrInvalidURL, msg
	case errors.Is(err, ErrInvalidRequest):
		return wire.ErrInvalidRequest, msg
	case errors.Is(err, ErrTooManyRedirects):
		return wire.ErrTooManyRedirects, msg
	case errors.Is(err, ErrBodyTooLarge), strings.Contains(msg, headersTooLarge):
		return wire.ErrTooLarge, msg
	case isDeadline || isNetTimeout:
		return wire.ErrTimeout, msg
	case errors.Is(err, context.Canceled):
		return wire.ErrCanceled, msg
	case errors.As(err, &dnsErr):
		return wire.ErrDNS, msg
	case isTLSProblem || isCertProblem:
		return wire.ErrTLS, msg
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, net.ErrClosed), errors.As(err, &opErr), errors.As(err, &syscallErrno),
		errors.As(err, &protocolErr), strings.Contains(msg, malformedResponse):
		return wire.ErrConnection, msg
	}
	return wire.ErrUnexpected, msg
}
