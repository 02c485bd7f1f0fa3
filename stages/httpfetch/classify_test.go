package httpfetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"syscall"
	"testing"

	"github.com/fetchstream/fetchstream/stages/hostsignal"
	"github.com/fetchstream/fetchstream/wire"
)

// timeoutErr is a net.Error that reports a timeout, as a deadline on a
// connection does.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	cases := []struct {
		name string
		err  error
		want wire.ErrorKind
	}{
		{"nil", nil, ""},
		{"policy refusal", fmt.Errorf("%w: 10.0.0.1", ErrBlocked), wire.ErrBlocked},
		{"policy refusal inside a dial error", dial(fmt.Errorf("%w: 127.0.0.1", ErrBlocked)), wire.ErrBlocked},
		{"policy refusal beats a deadline", errors.Join(dial(fmt.Errorf("%w", ErrBlocked)), context.DeadlineExceeded), wire.ErrBlocked},
		{"bad URL", fmt.Errorf("%w: no host", ErrInvalidURL), wire.ErrInvalidURL},
		{"bad request", fmt.Errorf("%w: method", ErrInvalidRequest), wire.ErrInvalidRequest},
		{"redirect limit", fmt.Errorf("%w: more than 10", ErrTooManyRedirects), wire.ErrTooManyRedirects},
		{"body refused", fmt.Errorf("%w: more than 5 bytes", ErrBodyTooLarge), wire.ErrTooLarge},
		{"headers over the limit", fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w",
			errors.New("net/http: server response headers exceeded 65536 bytes; aborted")), wire.ErrTooLarge},
		{"context deadline", context.DeadlineExceeded, wire.ErrTimeout},
		{"its batch's lifetime (a context's cause)", fmt.Errorf("Get x: %w", &hostsignal.Ended{Kind: wire.ErrTimeout, Message: "m"}), wire.ErrTimeout},
		{"policy refusal beats its batch's lifetime", errors.Join(dial(ErrBlocked), &hostsignal.Ended{Kind: wire.ErrTimeout}), wire.ErrBlocked},
		{"connection deadline", dial(os.ErrDeadlineExceeded), wire.ErrTimeout},
		{"net.Error timeout", timeoutErr{}, wire.ErrTimeout},
		{"DNS timeout is a timeout", &net.DNSError{Err: "timeout", Name: "x", IsTimeout: true}, wire.ErrTimeout},
		{"shutdown", context.Canceled, wire.ErrCanceled},
		{"no such host", dial(&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}), wire.ErrDNS},
		{"not TLS", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, wire.ErrTLS},
		{"TLS alert", fmt.Errorf("remote error: %w", tls.AlertError(40)), wire.ErrTLS},
		{"unknown CA", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, wire.ErrTLS},
		{"wrong host name", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "x"}, wire.ErrTLS},
		{"refused", dial(syscall.ECONNREFUSED), wire.ErrConnection},
		{"reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, wire.ErrConnection},
		{"cut short", io.ErrUnexpectedEOF, wire.ErrConnection},
		{"closed", io.EOF, wire.ErrConnection},
		{"not HTTP", fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w",
			errors.New(`malformed HTTP response "\x00garbage"`)), wire.ErrConnection},
		{"https to plain HTTP", http.ErrSchemeMismatch, wire.ErrTLS},
		{"bad chunk", errors.New("invalid byte in chunk length"), wire.ErrConnection},
		{"chunk too long", errors.New("http chunk length too large"), wire.ErrConnection},
		{"chunk framing", errors.New("malformed chunked encoding"), wire.ErrConnection},
		{"chunk filler", errors.New("chunked encoding contains too much non-data"), wire.ErrConnection},
		{"chunk line", errors.New("header line too long"), wire.ErrConnection},
		{"endless trailer", errors.New("http: suspiciously long trailer after chunked body"), wire.ErrConnection},
		{"trailer cut", errors.New("http: unexpected EOF reading trailer"), wire.ErrConnection},
		{"framing refused", fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w",
			errors.New(`bad Content-Length "x"`)), wire.ErrConnection},
		{"idle connection closed", errors.New("http: server closed idle connection"), wire.ErrConnection},
		{"HTTP/2 stream reset", errors.New("stream error: stream ID 1; INTERNAL_ERROR; received from peer"), wire.ErrConnection},
		{"HTTP/2 GOAWAY", errors.New("http2: server sent GOAWAY and closed the connection; LastStreamID=1, ErrCode=NO_ERROR, debug=\"\""), wire.ErrConnection},
		{"HTTP/2 connection lost", errors.New("http2: client connection lost"), wire.ErrConnection},
		{"HTTP/2 connection closed", errors.New("http2: client connection force closed via ClientConn.Close"), wire.ErrConnection},
		{"a deadline whatever its text", fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", os.ErrDeadlineExceeded), wire.ErrTimeout},
		{"bad header line", fmt.Errorf("broken: %w", textproto.ProtocolError("malformed MIME header line: x")), wire.ErrConnection},
		{"anything else", errors.New("gzip: invalid header"), wire.ErrUnexpected},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kind, msg := Classify(c.err)
			if kind != c.want {
				t.Errorf("Classify(%v) = %q, want %q", c.err, kind, c.want)
			}
			if c.err != nil && msg != c.err.Error() {
				t.Errorf("message %q, want the error's text %q", msg, c.err.Error())
			}
		})
	}
}
