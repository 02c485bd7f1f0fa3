package httpfetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"syscall"
	"testing"

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
