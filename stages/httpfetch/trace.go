package httpfetch

import (
	"crypto/tls"
	"net"
	"net/http/httptrace"
	"sync"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

// trace records the net/http/httptrace events of one attempt and keeps
// those of its last hop: each request of a redirect chain starts with
// GetConn, which clears what the hop before it recorded. Hooks run on the
// transport's goroutines (dials race each other, and a dial may finish
// after the attempt gave up), so every field is behind the mutex.
type trace struct {
	mu     sync.Mutex
	t      traceTimes
	reused bool
	remote string // the address of the last hop's connection
	// conns counts the connections asked for (GetConn, once per hop),
	// gotConns those got (GotConn), and idleConns those an HTTP/1 request
	// took straight from the idle pool (GotConn with WasIdle, which net/http
	// reports only when it queued no dial): when all three match, no dial
	// was started for this attempt. HTTP/2 reports WasIdle by other rules,
	// so its connections never count as idle here.
	conns, gotConns, idleConns int
}

type traceTimes struct {
	getConn, dnsStart, dnsDone, connectStart, connectDone, tlsStart, tlsDone, firstByte time.Time
}

// hooks returns the ClientTrace that feeds t from the request: the
// connection asked for and got, TLS and the first response byte. The DNS
// and connect hooks are not in it but in dialHooks, given to the dial
// alone (see dialer): a ClientTrace with them makes WithClientTrace build
// a second, net-level trace for every request, dialing or not.
func (t *trace) hooks() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) {
			now := time.Now()
			t.mu.Lock()
			t.t, t.reused, t.remote = traceTimes{getConn: now}, false, ""
			t.conns++
			t.mu.Unlock()
		},
		GotConn: func(info httptrace.GotConnInfo) {
			t.mu.Lock()
			t.reused = info.Reused
			t.gotConns++
			if info.Conn != nil {
				t.remote = info.Conn.RemoteAddr().String() // made once per connection: see remoteConn
			}
			if info.WasIdle && !isHTTP2(info.Conn) {
				t.idleConns++
			}
			t.mu.Unlock()
		},
		TLSHandshakeStart:    func() { t.set(&t.t.tlsStart) },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { t.set(&t.t.tlsDone) },
		GotFirstResponseByte: func() { t.set(&t.t.firstByte) },
	}
}

// dialHooks returns a new ClientTrace of the DNS and connect events that
// feeds t, for the dial an attempt's request started.
func (t *trace) dialHooks() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		DNSStart: func(httptrace.DNSStartInfo) { t.set(&t.t.dnsStart) },
		DNSDone:  func(httptrace.DNSDoneInfo) { t.set(&t.t.dnsDone) },
		ConnectStart: func(string, string) {
			now := time.Now()
			t.mu.Lock()
			if t.t.connectStart.IsZero() { // the first of racing dials
				t.t.connectStart = now
			}
			t.mu.Unlock()
		},
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				t.set(&t.t.connectDone)
			}
		},
	}
}

// set records now in field, one of t.t's.
func (t *trace) set(field *time.Time) {
	now := time.Now()
	t.mu.Lock()
	*field = now
	t.mu.Unlock()
}

// reset clears t for a new attempt.
func (t *trace) reset() {
	t.mu.Lock()
	t.t, t.reused, t.remote, t.conns, t.gotConns, t.idleConns = traceTimes{}, false, "", 0, 0, 0
	t.mu.Unlock()
}

// noDials reports whether every connection of the attempt came from the
// idle pool, so that no dial (whose hooks could fire after the attempt
// ends) was started for it.
func (t *trace) noDials() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conns == t.gotConns && t.gotConns == t.idleConns
}

// remoteAddr is the address the last hop's connection goes to (what the
// dialer connected to, and the policy judged), or "" when it got none.
func (t *trace) remoteAddr() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.remote
}

// isHTTP2 reports whether conn speaks HTTP/2 (negotiated over TLS).
func isHTTP2(conn net.Conn) bool {
	tlsConn, ok := conn.(*tls.Conn)
	return ok && tlsConn.ConnectionState().NegotiatedProtocol == "h2"
}

// timing is the breakdown of the last hop, or nil when no request began.
// A phase without both ends (it did not happen, or did not finish) is 0.
func (t *trace) timing() *wire.Timing {
	t.mu.Lock()
	defer t.mu.Unlock()
	tt := t.t
	if tt.getConn.IsZero() {
		return nil
	}
	return &wire.Timing{
		DNSMS:     spanMS(tt.dnsStart, tt.dnsDone),
		ConnectMS: spanMS(tt.connectStart, tt.connectDone),
		TLSMS:     spanMS(tt.tlsStart, tt.tlsDone),
		TTFBMS:    spanMS(tt.getConn, tt.firstByte),
		Reused:    t.reused,
	}
}

func spanMS(from, to time.Time) float64 {
	if from.IsZero() || to.IsZero() || to.Before(from) {
		return 0
	}
	return durationMS(to.Sub(from))
}

func durationMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
