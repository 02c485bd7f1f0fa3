package httpfetch

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/fetchstream/fetchstream/stages/internal/jsontext"
)

// BodyMode says which response bodies a result carries. Whatever the
// mode, a result that read a non-empty body has body_bytes and body_sha256.
type BodyMode string

// The body modes: which bodies results carry.
const (
	BodyAuto BodyMode = "auto" // JSON as JSON, UTF-8 text as a string, anything else as base64
	BodyText BodyMode = "text" // as auto, but a body that is not UTF-8 text is left out
	BodyNone BodyMode = "none" // no body at all
)

// ParseBodyMode accepts "auto" (or ""), "text" and "none".
func ParseBodyMode(s string) (BodyMode, error) {
	switch m := BodyMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return BodyAuto, nil
	case BodyAuto, BodyText, BodyNone:
		return m, nil
	}
	return "", fmt.Errorf("%w: body mode must be auto, text or none, got %q", ErrConfig, s)
}

// EmbedBody turns a response body into the JSON value a result carries,
// as mode says: the body itself when it is valid JSON and the content type
// does not say otherwise, a JSON string when it is text (see isText), else
// a base64 string (encoding "base64"; left out in BodyText mode). An empty
// body, and every body in BodyNone mode, embeds as nothing. Strings are
// not HTML-escaped, so markup costs no more than its own bytes.
func EmbedBody(body []byte, contentType string, mode BodyMode) (value json.RawMessage, encoding string) {
	if len(body) == 0 || mode == BodyNone {
		return nil, ""
	}
	if looksJSON(contentType) {
		if compact, ok := jsontext.Compact(body); ok {
			return compact, ""
		}
	}
	if isText(body) {
		return quote(body), ""
	}
	if mode == BodyText {
		return nil, ""
	}
	return embedBase64(body)
}

// embedBase64 is body as a JSON string of its base64, and "base64".
func embedBase64(body []byte) (value json.RawMessage, encoding string) {
	quoted := make([]byte, 0, base64.StdEncoding.EncodedLen(len(body))+2)
	quoted = append(quoted, '"')
	quoted = base64.StdEncoding.AppendEncode(quoted, body)
	return append(quoted, '"'), "base64"
}

// isText reports whether body is UTF-8 text: valid UTF-8, no NUL byte,
// and at most one control character in a hundred bytes besides tab, line
// feed, carriage return, form feed and escape. NULs and control bytes are
// valid UTF-8 but mark binary data, and would cost six bytes each as
// JSON string escapes.
func isText(body []byte) bool {
	if !utf8.Valid(body) || bytes.IndexByte(body, 0) >= 0 {
		return false
	}
	controls := 0
	for _, c := range body {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1b) || c == 0x7f {
			controls++
		}
	}
	return controls*100 <= len(body)
}

// quote is json.Marshal of a string without HTML escaping.
func quote(text []byte) []byte {
	return jsontext.AppendString(make([]byte, 0, len(text)+2), string(text))
}

// looksJSON is true for JSON content types and for a missing or generic
// one, where a valid JSON body is taken as JSON.
func looksJSON(contentType string) bool {
	mediaType, _, _ := strings.Cut(strings.ToLower(contentType), ";")
	mediaType = strings.TrimSpace(mediaType)
	switch {
	case mediaType == "", mediaType == "text/plain", mediaType == "application/octet-stream":
		return true
	case strings.HasSuffix(mediaType, "/json"), strings.HasSuffix(mediaType, "+json"):
		return true
	}
	return false
}

// readCapped appends at most limit bytes of r to buf; truncated reports
// that the body went on past them (the rest is left unread, so a slow,
// endless or decompressing body costs no more than the cap). When
// truncated, the one byte read past the cap is body[:limit+1][limit].
func readCapped(r io.Reader, limit int64, buf []byte) (body []byte, truncated bool, err error) {
	lr := io.LimitedReader{R: r, N: limit + 1}
	body = buf
	if cap(body) == 0 {
		body = make([]byte, 0, 512)
	}
	for {
		if len(body) == cap(body) {
			body = append(body, 0)[:len(body)] // let append pick the growth
		}
		var n int
		n, err = lr.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if err != nil {
			break
		}
	}
	if err == io.EOF {
		err = nil
	}
	if int64(len(body)) > limit {
		return body[:limit], true, err
	}
	return body, false, err
}

// trimPartialRune drops the incomplete UTF-8 sequence a cut may leave at
// the end of text, so that cut text still embeds as text, not base64.
// Bodies that are not text are returned whole.
func trimPartialRune(body []byte) []byte {
	for cut := 1; cut <= utf8.UTFMax-1 && cut < len(body); cut++ {
		if utf8.RuneStart(body[len(body)-cut]) {
			if !utf8.FullRune(body[len(body)-cut:]) && utf8.Valid(body[:len(body)-cut]) {
				return body[:len(body)-cut]
			}
			break
		}
	}
	return body
}
