package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"
)

// Request is one item of a batch's urls: a URL to GET, or in the JSON
// object form a request with its own method, headers, body and credential.
// An item that is a JSON string is a Request with URL alone, and a Request
// with URL alone marshals as that string, so the text and array forms and
// older clients are unchanged on the wire.
//
// The empty fields fall back to the batch's defaults (see
// Batch.Request): Method to RequestOptions.Method (then GET), Credential
// to RequestOptions.Credential, and Headers are laid over the batch's
// headers, an item's header of the same name (case-insensitively) winning.
type Request struct {
	URL    string `json:"url"`
	Method string `json:"method,omitempty"`
	// Headers to send, one value each. Hop-by-hop headers, Host and
	// Content-Length may not be set (see ForbiddenHeaders).
	Headers map[string]string `json:"headers,omitempty"`
	// Body is sent as the request body: a JSON string as its text, any
	// other JSON value as its JSON text, with Content-Type
	// application/json unless the headers name one. BodyBase64 carries a
	// binary body instead; a request has at most one of the two.
	Body       json.RawMessage `json:"body,omitempty"`
	BodyBase64 string          `json:"body_base64,omitempty"`
	// Credential names a credential the service holds (never its value):
	// the service adds its headers, and only for the hosts it lists.
	Credential string `json:"credential,omitempty"`
}

// URLs makes the Requests of a batch that GETs each of urls.
func URLs(urls ...string) []Request {
	requests := make([]Request, len(urls))
	for i, u := range urls {
		requests[i].URL = u
	}
	return requests
}

// onlyURL reports whether r is a plain URL, which travels as a string.
func (r *Request) onlyURL() bool {
	return r.Method == "" && len(r.Headers) == 0 && len(r.Body) == 0 && r.BodyBase64 == "" && r.Credential == ""
}

// request is Request without its methods, for encoding/json.
type request Request

// MarshalJSON writes a plain URL as a JSON string, anything more as the
// request object.
func (r Request) MarshalJSON() ([]byte, error) {
	if r.onlyURL() {
		return json.Marshal(r.URL)
	}
	return json.Marshal(request(r))
}

// UnmarshalJSON reads a JSON string as a URL, or a request object; a
// field a request object does not have is an error that names it. A JSON
// null body is no body, and empty headers are none; a body is kept
// compact, as it is sent.
func (r *Request) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		*r = Request{}
		return json.Unmarshal(data, &r.URL)
	}
	if len(data) == 0 || data[0] != '{' {
		return itemTypeError(data)
	}
	var obj request
	if err := decodeStrict(data, &obj, "the request object", requestFields); err != nil {
		return err
	}
	if bytes.Equal(obj.Body, []byte("null")) {
		obj.Body = nil
	}
	if len(obj.Body) > 0 {
		var compact bytes.Buffer
		if err := json.Compact(&compact, obj.Body); err != nil {
			return err
		}
		obj.Body = compact.Bytes()
	}
	if len(obj.Headers) == 0 {
		obj.Headers = nil
	}
	*r = Request(obj)
	return nil
}

// ErrBadRequest is wrapped by the errors of Request.Validate and
// Request.Payload: a request that must not be sent (error kind
// invalid_request).
var ErrBadRequest = errors.New("invalid request")

var (
	methods   = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
	forbidden = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
		"Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Upgrade", "Expect"}
)

// Methods returns the HTTP methods a request may use. It is a new slice
// at each call.
func Methods() []string { return slices.Clone(methods) }

// ValidMethod reports whether method, in any case, is one of Methods
// ("" is GET).
func ValidMethod(method string) bool { return slices.Contains(methods, NormalMethod(method)) }

// HeaderAcceptEncoding is refused in a request (invalid_request), though
// it is no hop-by-hop header: the service owns content coding. It sends
// AcceptEncoding itself and decodes what the server sends before any cap,
// redaction or hash, so that a request cannot make a body come back
// compressed, where no redaction would see an echoed credential.
const HeaderAcceptEncoding = "Accept-Encoding"

// AcceptEncoding is the Accept-Encoding every request is sent with: the
// content codings the service decodes.
const AcceptEncoding = "gzip, deflate, br, zstd"

// ForbiddenHeaders returns the headers a request may not set, in
// canonical form: Host and Content-Length (the service writes them from
// the URL and the body) and the hop-by-hop headers, which belong to a
// connection, not to a request. It is a new slice at each call.
func ForbiddenHeaders() []string { return slices.Clone(forbidden) }

// ForbiddenHeader reports whether a request may not set the header name
// (in any case; see ForbiddenHeaders).
func ForbiddenHeader(name string) bool {
	return slices.Contains(forbidden, textproto.CanonicalMIMEHeaderKey(name))
}

// NormalMethod is method in upper case, "GET" for "". The result is one
// of Methods only if method is (in any case).
func NormalMethod(method string) string {
	if method == "" {
		return "GET"
	}
	return strings.ToUpper(method)
}

// Validate checks what the wire contract alone decides (not the body's
// size nor the credential, which are the service's): the method is one
// of Methods, each header name is an HTTP token and not forbidden, each
// value holds no CR, LF, NUL or other control character but tab, and
// there is at most one of Body and BodyBase64, the latter valid base64.
// Its errors wrap ErrBadRequest and name the header, never its value.
func (r *Request) Validate() error {
	if !ValidMethod(r.Method) {
		return fmt.Errorf("%w: method %q is not one of %s", ErrBadRequest, cut(r.Method, 32), strings.Join(methods, ", "))
	}
	if err := ValidateHeaders(r.Headers); err != nil {
		return err
	}
	if len(r.Body) > 0 && r.BodyBase64 != "" {
		return fmt.Errorf("%w: body and body_base64 are both set", ErrBadRequest)
	}
	_, _, err := r.Payload()
	return err
}

// ValidateHeaders checks header names and values as Validate does, and
// that no name is given twice (in two cases).
func ValidateHeaders(headers map[string]string) error {
	if len(headers) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(headers))
	for name, value := range headers {
		if !ValidHeaderName(name) {
			return fmt.Errorf("%w: header name %q is not an HTTP token", ErrBadRequest, cut(name, 64))
		}
		canonical := textproto.CanonicalMIMEHeaderKey(name)
		if slices.Contains(forbidden, canonical) {
			return fmt.Errorf("%w: header %s may not be set by a request", ErrBadRequest, canonical)
		}
		if canonical == HeaderAcceptEncoding {
			return fmt.Errorf("%w: header %s may not be set by a request: the service chooses it (%s) and decodes the body itself; remove the header",
				ErrBadRequest, canonical, AcceptEncoding)
		}
		if seen[canonical] {
			return fmt.Errorf("%w: header %s is given twice", ErrBadRequest, canonical)
		}
		seen[canonical] = true
		if !ValidHeaderValue(value) {
			return fmt.Errorf("%w: header %s has a value with a control character (CR, LF, NUL...)", ErrBadRequest, textproto.CanonicalMIMEHeaderKey(name))
		}
	}
	return nil
}

// Payload returns the body bytes to send and the content type they imply
// ("application/json" for a JSON body that is not a string, else ""). A
// body that is neither valid JSON nor valid base64 is an error wrapping
// ErrBadRequest.
func (r *Request) Payload() (body []byte, contentType string, err error) {
	switch {
	case r.BodyBase64 != "":
		body, err = base64.StdEncoding.DecodeString(r.BodyBase64)
		if err != nil {
			return nil, "", fmt.Errorf("%w: body_base64 is not base64: %v", ErrBadRequest, err)
		}
		return body, "", nil
	case len(r.Body) == 0:
		return nil, "", nil
	case r.Body[0] == '"':
		var text string
		if err := json.Unmarshal(r.Body, &text); err != nil {
			return nil, "", fmt.Errorf("%w: body: %v", ErrBadRequest, err)
		}
		return []byte(text), "", nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, r.Body); err != nil {
		return nil, "", fmt.Errorf("%w: body is not JSON: %v", ErrBadRequest, err)
	}
	return compact.Bytes(), "application/json", nil
}

// ValidHeaderName reports whether name is an HTTP token (RFC 9110 5.6.2).
func ValidHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ValidHeaderValue reports whether value may be sent as a header value:
// no control character but horizontal tab (so no CR, LF or NUL).
func ValidHeaderValue(value string) bool {
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// cut shortens what an error quotes from the caller.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
