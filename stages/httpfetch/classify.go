package httpfetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"syscall"

	"github.com/fetchstream/fetchstream/stages/hostsignal"
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

// Texts of net/http errors that have no sentinel or exported type, and
// the kind each means. net/http wraps most of them (in "net/http: HTTP/1.x
// transport connection broken: %w"), so they are found anywhere in the
// message; the order of Classify's cases decides between them and the
// typed errors (a deadline stays a timeout whatever text it carries).
var transportTexts = []struct {
	text string
	kind wire.ErrorKind
}{
	{"server response headers exceeded", wire.ErrTooLarge}, // over MaxResponseHeaderBytes
	// The reply is not HTTP/1.x, or breaks its framing.
	{"malformed HTTP", wire.ErrConnection},                       // status line, version or header line
	{"HTTP/1.x transport connection broken", wire.ErrConnection}, // wraps what readResponse refused (Content-Length, Transfer-Encoding)
	{"invalid byte in chunk length", wire.ErrConnection},
	{"http chunk length too large", wire.ErrConnection},
	{"malformed chunked encoding", wire.ErrConnection},
	{"chunked encoding contains too much non-data", wire.ErrConnection},
	{"header line too long", wire.ErrConnection},       // a chunk line over the reader's limit
	{"trailer after chunked body", wire.ErrConnection}, // "http: suspiciously long trailer ..."
	{"unexpected EOF reading trailer", wire.ErrConnection},
	{"http: server closed idle connection", wire.ErrConnection}, // a kept-alive connection closed under the request
	// HTTP/2: the server reset the stream, or the connection went.
	{"stream error: stream ID", wire.ErrConnection},
	{"http2: server sent GOAWAY", wire.ErrConnection},
	{"http2: client connection lost", wire.ErrConnection},
	{"http2: client connection force closed", wire.ErrConnection},
}

// transportKind is the kind of the first transportTexts entry in msg.
func transportKind(msg string) wire.ErrorKind {
	for _, t := range transportTexts {
		if strings.Contains(msg, t.text) {
			return t.kind
		}
	}
	return ""
}

// Classify maps an error from a fetch to its wire error kind and a message.
// The order matters: a deadline is a timeout even when it surfaces as a
// network error, and a policy refusal is blocked even though it fails the dial.
// An https URL whose server answers plain HTTP (http.ErrSchemeMismatch)
// or anything else than TLS is a tls_error. Some failures net/http reports
// only as text (see transportTexts): response headers over the limit are
// too_large, a reply that breaks HTTP's framing or a stream the server
// reset is a connection_error. A request its scheduler ended (net/http
// returns its context's cause, a *hostsignal.Ended) is of that cause's
// kind.
func Classify(err error) (wire.ErrorKind, string) {
	if err == nil {
		return "", ""
	}
	msg := err.Error()
	textKind := transportKind(msg)
	var (
		netErr        net.Error
		ended         *hostsignal.Ended
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
	case errors.As(err, &ended):
		return ended.Kind, msg
	case errors.Is(err, ErrInvalidURL):
		return wire.ErrInvalidURL, msg
	case errors.Is(err, ErrInvalidRequest):
		return wire.ErrInvalidRequest, msg
	case errors.Is(err, ErrTooManyRedirects):
		return wire.ErrTooManyRedirects, msg
	case errors.Is(err, ErrBodyTooLarge), textKind == wire.ErrTooLarge:
		return wire.ErrTooLarge, msg
	case isDeadline || isNetTimeout:
		return wire.ErrTimeout, msg
	case errors.Is(err, context.Canceled):
		return wire.ErrCanceled, msg
	case errors.As(err, &dnsErr):
		return wire.ErrDNS, msg
	case isTLSProblem || isCertProblem || errors.Is(err, http.ErrSchemeMismatch):
		return wire.ErrTLS, msg
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, net.ErrClosed), errors.As(err, &opErr), errors.As(err, &syscallErrno),
		errors.As(err, &protocolErr), textKind == wire.ErrConnection:
		return wire.ErrConnection, msg
	}
	return wire.ErrUnexpected, msg
}
