package httpfetch

import (
	"mime"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
)

// toUTF8 converts a body declared (by contentType's charset parameter)
// in a charset other than UTF-8 to UTF-8 text, and names the charset as
// declared, lower-cased. It reports false, and the body stays as it came,
// when no charset is declared, when it is UTF-8 or ASCII, when it is not
// one golang.org/x/text knows (by the WHATWG Encoding Standard's labels,
// as browsers read them: ISO-8859-1 is read as windows-1252), or when the
// body does not decode.
func toUTF8(body []byte, contentType string) (text []byte, charset string, ok bool) {
	if !containsFold(contentType, "charset") { // the common case, without parsing
		return nil, "", false
	}
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, "", false
	}
	charset = strings.ToLower(strings.TrimSpace(params["charset"]))
	switch charset {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return nil, "", false
	}
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return nil, "", false
	}
	if name, _ := htmlindex.Name(enc); name == "utf-8" {
		return nil, "", false
	}
	text, err = enc.NewDecoder().Bytes(body)
	if err != nil {
		return nil, "", false
	}
	return text, charset, true
}

// containsFold reports whether s holds the lower-case ASCII word in any
// case, without allocating.
func containsFold(s, word string) bool {
	for i := 0; i+len(word) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(word)], word) {
			return true
		}
	}
	return false
}
