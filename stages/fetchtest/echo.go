package fetchtest

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// EchoForms are the forms Echo can reflect a header's value in.
var EchoForms = []string{"raw", "json", "json-plain", "query", "query-lower", "path", "html",
	"b64", "b64url", "b64raw", "b64urlraw"}

// Echo is an honest echo server, as a credential's own host might be: it
// reflects a request header back in its body, in the form asked for, in
// a content coding asked for:
//
//	/echo?h=NAME&form=FORM&before=N&after=M&coding=C1,C2&type=T
//
// The body is N bytes of filler, the value of header NAME (default
// Authorization) in FORM (see EchoForms: as sent, JSON-escaped by
// encoding/json with and without HTML escaping, percent-encoded as a
// query value in upper or lower hex or as a path segment, HTML-escaped),
// then M bytes of filler; for a base64 form, the whole of that (filler,
// raw value, filler) in base64, standard or URL alphabet, padded or not,
// so the value sits at alignment N%3 within a longer base64 text. The
// codings (gzip, x-gzip, deflate, deflate-raw, br, zstd, or any other
// name, which is sent as the coding without changing the bytes) are
// applied in order and named in Content-Encoding; the content type is T,
// text/plain by default. With &header, the value in FORM is also sent
// back as the response header X-Echo, and with &ctype as a parameter of
// the Content-Type; with &redirect=PREFIX, the answer
// is a 302 to PREFIX followed by the value in FORM.
func NewEcho(t testing.TB, addr string) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(echo)}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func echo(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := q.Get("h")
	if name == "" {
		name = "Authorization"
	}
	before, _ := strconv.Atoi(q.Get("before"))
	after, _ := strconv.Atoi(q.Get("after"))
	filler := func(n int) string { return strings.Repeat("x", n) }
	value := r.Header.Get(name)
	if q.Has("header") {
		w.Header().Set("X-Echo", EchoForm(q.Get("form"), value))
	}
	if to := q.Get("redirect"); to != "" {
		w.Header().Set("Location", to+EchoForm(q.Get("form"), value))
		w.WriteHeader(http.StatusFound)
		return
	}
	var body []byte
	switch form := q.Get("form"); form {
	case "b64", "b64url", "b64raw", "b64urlraw":
		enc := map[string]*base64.Encoding{"b64": base64.StdEncoding, "b64url": base64.URLEncoding,
			"b64raw": base64.RawStdEncoding, "b64urlraw": base64.RawURLEncoding}[form]
		body = []byte(enc.EncodeToString([]byte(filler(before) + value + filler(after))))
	default:
		body = []byte(filler(before) + EchoForm(form, value) + filler(after))
	}
	for c := range strings.SplitSeq(q.Get("coding"), ",") {
		if c = strings.TrimSpace(c); c != "" {
			body = Encode(c, body)
			w.Header().Add("Content-Encoding", strings.TrimSuffix(c, "-raw"))
		}
	}
	w.Header().Set("Content-Type", cmpOr(q.Get("type"), "text/plain"))
	if q.Has("ctype") {
		w.Header().Set("Content-Type", "text/plain; echo="+EchoForm(q.Get("form"), value))
	}
	_, _ = w.Write(body)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// EchoForm is value written in form (see EchoForms; a base64 form gives
// the whole value's encoding; "utf16le" gives an ASCII value in UTF-16LE). "raw" and unknown forms give value as is.
func EchoForm(form, value string) string {
	switch form {
	case "json", "json-plain":
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(form == "json")
		_ = enc.Encode(value)
		s := strings.TrimSpace(buf.String())
		return s[1 : len(s)-1]
	case "query":
		return url.QueryEscape(value)
	case "query-lower":
		s := []byte(url.QueryEscape(value))
		for i := range s {
			if s[i] == '%' && i+2 < len(s) {
				s[i+1], s[i+2] = bytes.ToLower(s[i+1 : i+2])[0], bytes.ToLower(s[i+2 : i+3])[0]
			}
		}
		return string(s)
	case "path":
		return url.PathEscape(value)
	case "html":
		return html.EscapeString(value)
	case "utf16le": // for ASCII values
		s := make([]byte, 0, 2*len(value))
		for i := 0; i < len(value); i++ {
			s = append(s, value[i], 0)
		}
		return string(s)
	case "b64":
		return base64.StdEncoding.EncodeToString([]byte(value))
	case "b64url":
		return base64.URLEncoding.EncodeToString([]byte(value))
	case "b64raw":
		return base64.RawStdEncoding.EncodeToString([]byte(value))
	case "b64urlraw":
		return base64.RawURLEncoding.EncodeToString([]byte(value))
	}
	return value
}

// Encode is data in content coding c: gzip (or x-gzip), deflate (zlib),
// deflate-raw (raw deflate, sent as "deflate"), br or zstd; any other
// coding leaves data as it is.
func Encode(c string, data []byte) []byte {
	var buf bytes.Buffer
	var w io.WriteCloser
	switch c {
	case "gzip", "x-gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "deflate-raw":
		w, _ = flate.NewWriter(&buf, flate.DefaultCompression)
	case "br":
		w = brotli.NewWriter(&buf)
	case "zstd":
		w, _ = zstd.NewWriter(&buf)
	default:
		return data
	}
	_, _ = w.Write(data)
	_ = w.Close()
	return buf.Bytes()
}
