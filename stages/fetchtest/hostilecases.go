package fetchtest

import "github.com/fetchstream/fetchstream/wire"

// HostileCase is a misbehaving server and how a fetch of it must end.
type HostileCase struct {
	Name    string
	URL     string
	Kind    wire.ErrorKind
	Message string // in the result's message
	Fast    bool   // ends well before the timeout
}

// Cases are h's misbehaving endpoints, and silent (see Silent) as plain
// TCP and as TLS, each with the error kind a fetch of it must end in.
func (h *Hostile) Cases(silent string) []HostileCase {
	return []HostileCase{
		{"trickled body", h.URL("/trickle"), wire.ErrTimeout, "no complete response within", false},
		{"never answers (HTTP)", h.URL("/hang"), wire.ErrTimeout, "no complete response within", false},
		{"never answers (TCP)", "http://" + silent + "/", wire.ErrTimeout, "no complete response within", false},
		{"TLS handshake never completes", "https://" + silent + "/", wire.ErrTimeout, "no complete response within", false},
		{"trickled headers", h.URL("/slow-headers"), wire.ErrTimeout, "no complete response within", false},
		{"endless headers", h.URL("/endless-headers"), wire.ErrTooLarge, "headers exceeded 65536 bytes", true},
		{"redirect loop", h.URL("/redirect-loop"), wire.ErrTooManyRedirects, "more than 10", true},
		{"not HTTP", h.URL("/garbage"), wire.ErrConnection, "malformed HTTP", true},
		{"reset", h.URL("/reset"), wire.ErrConnection, "connection reset", true},
		{"body cut short", h.URL("/cut-body"), wire.ErrConnection, "unexpected EOF", true},
		{"bad chunk length", h.URL("/bad-chunked"), wire.ErrConnection, "invalid byte in chunk length", true},
		{"chunk length too large", h.URL("/huge-chunk"), wire.ErrConnection, "chunk length too large", true},
		{"endless trailer", h.URL("/long-trailer"), wire.ErrConnection, "trailer after chunked body", true},
		{"bad Content-Length", h.URL("/bad-length"), wire.ErrConnection, "bad Content-Length", true},
		{"two Content-Lengths", h.URL("/two-lengths"), wire.ErrConnection, "multiple Content-Length", true},
		{"unknown transfer encoding", h.URL("/unknown-encoding"), wire.ErrConnection, "unsupported transfer encoding", true},
		{"bad status line", h.URL("/bad-status"), wire.ErrConnection, "malformed HTTP status code", true},
		{"https to a plain HTTP port", "https://" + h.Listener.Addr().String() + "/json", wire.ErrTLS,
			"server gave HTTP response to HTTPS client", true},
		{"corrupt gzip", h.URL("/bad-gzip"), wire.ErrUnexpected, "gzip: invalid header", true},
	}
}
