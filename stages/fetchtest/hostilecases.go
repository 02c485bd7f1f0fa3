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
		{"corrupt gzip", h.URL("/bad-gzip"), wire.ErrUnexpected, "gzip: invalid header", true},
	}
}
