package httpfetch

import (
	"context"
	"net"
	"net/http/httptrace"
)

// dialer dials the transport's connections: net.Dialer's dial, with the
// policy in its Control, the DNS and connect events recorded in the trace
// of the attempt whose request started the dial (found in the dial's
// context, which keeps the request's values), and each connection's
// remote address made into a string once, for every result it serves.
// The request's own trace (see trace.hooks) has no DNS or connect hooks,
// so a request that takes an idle connection builds no net-level trace.
type dialer struct{ net.Dialer }

// DialContext dials address as net.Dialer does.
func (d *dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if st, _ := ctx.Value(attemptKey{}).(*attemptState); st != nil {
		// Composed with the request's trace (a caller's hooks among them).
		ctx = httptrace.WithClientTrace(ctx, st.trace.dialHooks())
	}
	conn, err := d.Dialer.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &remoteConn{Conn: conn, remote: remoteAddr{Addr: conn.RemoteAddr(), s: conn.RemoteAddr().String()}}, nil
}

// remoteConn is a dialed connection whose RemoteAddr's String is made
// once, when it is dialed, instead of once per request (two allocations
// each, in the trace's GotConn).
type remoteConn struct {
	net.Conn
	remote remoteAddr
}

// RemoteAddr returns the address dialed.
func (c *remoteConn) RemoteAddr() net.Addr { return &c.remote }

// remoteAddr is a net.Addr with its string made.
type remoteAddr struct {
	net.Addr
	s string
}

func (a *remoteAddr) String() string { return a.s }
