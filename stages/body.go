package stages

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// EmbedBody turns a response body into the JSON value a result carries:
// the body itself when it is valid JSON and the content type does not say
// otherwise, a JSON string when it is UTF-8 text, else a base64 string
// (encoding "base64"). An empty body embeds as nothing.
func EmbedBody(body []byte, contentType string) (value json.RawMessage, encoding string) {
	if len(body) == 0 {
		return nil, ""
	}
	if looksJSON(contentType) && json.Valid(body) {
		return json.RawMessage(body), ""
	}
	if utf8.Valid(body) {
		quoted, _ := json.Marshal(string(body))
		return quoted, ""
	}
	quoted := make([]byte, 0, base64.StdEncoding.EncodedLen(len(body))+2)
	quoted = append(quoted, '"')
	quoted = base64.StdEncoding.AppendEncode(quoted, body)
	return append(quoted, '"'), "base64"
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
