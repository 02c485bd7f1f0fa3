package httpfetch

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/stages/httpfetch/credentials"
	"github.com/fetchstream/fetchstream/wire"
)

// echoFetcher serves fetchtest.NewEcho on 127.0.0.1 and builds a fetcher
// with cfg whose credential "echo" (its headers given as JSON, ${S} being
// fetchtest.HardSecret and ${B} Basic's "user:" + HardSecret in base64)
// may go there.
func echoFetcher(t *testing.T, cfg Config, headers string) (*Fetcher, string) {
	t.Helper()
	echo := fetchtest.NewEcho(t, "127.0.0.1:0")
	basic := base64.StdEncoding.EncodeToString([]byte("user:" + fetchtest.HardSecret))
	set, err := credentials.Parse([]byte(`{"echo": {"hosts": ["`+echo.Listener.Addr().String()+`"], "headers": `+headers+`}}`),
		func(name string) (string, bool) {
			return map[string]string{"S": fetchtest.HardSecret, "B": basic}[name], true
		})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Credentials, cfg.Policy = set, loopbackNet
	return newTestFetcher(t, cfg), echo.URL
}

// resultJSON is r as the service publishes it.
func resultJSON(t *testing.T, r wire.Result) []byte {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// An honest echo server reflecting the credential in any form, at any
// alignment, in any content coding, stacked or not, gives no piece of it
// back; the result says it was redacted, and body_sha256 is the hash of
// the body returned.
func TestEchoedCredentialRedactedInEveryForm(t *testing.T) {
	for _, header := range []string{"Authorization", "X-Api-Key"} {
		f, echo := echoFetcher(t, Config{}, `{"Authorization": "Bearer ${S}", "X-Api-Key": "${S}"}`)
		for _, coding := range []string{"", "identity", "gzip", "x-gzip", "deflate", "deflate-raw", "br", "zstd", "gzip,br", "zstd,deflate,gzip"} {
			for _, form := range fetchtest.EchoForms {
				for before := range 3 {
					q := url.Values{"h": {header}, "form": {form}, "before": {fmt.Sprint(before)}, "after": {"5"}, "coding": {coding}}
					r := do(f, wire.Request{URL: echo + "/echo?" + q.Encode(), Credential: "echo"}, nil)
					data := resultJSON(t, r)
					if r.Error != "" || !r.Redacted || !strings.Contains(string(r.Body), redacted) {
						t.Errorf("%s %s coding %q before %d: %s", header, form, coding, before, data)
					}
					fetchtest.AssertNoSecret(t, data, fetchtest.HardSecret)
					fetchtest.AssertBodyHash(t, data)
				}
			}
		}
	}
}

// Basic: the token, the decoded user:password and the password alone are
// each caught, in every form.
func TestBasicCredentialRedacted(t *testing.T) {
	f, echo := echoFetcher(t, Config{}, `{"Authorization": "Basic ${B}"}`)
	for _, form := range fetchtest.EchoForms {
		r := do(f, wire.Request{URL: echo + "/echo?form=" + form, Credential: "echo"}, nil)
		data := resultJSON(t, r)
		if r.Error != "" || !r.Redacted {
			t.Errorf("%s: %s", form, data)
		}
		fetchtest.AssertNoSecret(t, data, fetchtest.HardSecret)
		fetchtest.AssertNoSecret(t, data, base64.StdEncoding.EncodeToString([]byte("user:"+fetchtest.HardSecret)))
		fetchtest.AssertBodyHash(t, data)
	}
}

// A value that the --max-body cut splits is replaced whole, at every
// offset across the cut, in the forms that change its length; and the
// hash and sizes are of the redacted, cut body returned.
func TestCredentialSplitByTheCut(t *testing.T) {
	const maxBody = 300
	f, echo := echoFetcher(t, Config{MaxBody: maxBody}, `{"X-Api-Key": "${S}"}`)
	for _, form := range []string{"raw", "json", "query", "html", "b64"} {
		width := len(fetchtest.EchoForm(form, fetchtest.HardSecret))
		if form == "b64" {
			width = len(fetchtest.HardSecret) // before counts raw bytes, within the base64 text
		}
		for before := maxBody - width - 2; before <= maxBody+2; before++ {
			if form == "b64" && before >= maxBody*3/4 { // the whole base64 text is longer
				break
			}
			q := url.Values{"h": {"X-Api-Key"}, "form": {form}, "before": {fmt.Sprint(before)}, "after": {"400"}}
			r := do(f, wire.Request{URL: echo + "/echo?" + q.Encode(), Credential: "echo"}, nil)
			data := resultJSON(t, r)
			if r.Error != "" || !r.BodyTruncated || r.ContentLength != r.BodyBytes {
				t.Errorf("%s before %d: %s", form, before, data)
			}
			fetchtest.AssertNoSecret(t, data, fetchtest.HardSecret)
			fetchtest.AssertBodyHash(t, data)
		}
	}
}

// Without a credential, nothing is redacted and the sizes are the body's.
func TestNoCredentialNothingRedacted(t *testing.T) {
	f, echo := echoFetcher(t, Config{}, `{"X-Api-Key": "${S}"}`)
	r := do(f, wire.Request{URL: echo + "/echo?h=X-Other&coding=gzip", Headers: map[string]string{"X-Other": "plain value"}}, nil)
	if r.Error != "" || r.Redacted || string(r.Body) != `"plain value"` || r.BodyBytes != 11 {
		t.Errorf("%s", resultJSON(t, r))
	}
}

// Headers asked for, final_url and message are redacted too.
func TestCredentialRedactedOutsideTheBody(t *testing.T) {
	f, echo := echoFetcher(t, Config{}, `{"X-Api-Key": "${S}"}`)
	cases := []struct {
		name, query string
		kind        wire.ErrorKind
	}{
		{"response header", "form=json&header", ""},
		{"content type", "form=query&ctype", ""},
		{"redirect to a URL holding it", "form=query&redirect=/echo%3Fh=none%26v=", ""},
		{"redirect to a path holding it as is, which Go writes path-escaped", "form=raw&redirect=/echo/", ""},
		{"redirect refused, its URL in final_url", "form=path&redirect=http://127.0.0.1:1/", wire.ErrConnection},
		{"a Location that does not parse, in the message", "form=path&redirect=http://127.0.0.1/%25zz", wire.ErrUnexpected},
	}
	for _, c := range cases {
		r := do(f, wire.Request{URL: echo + "/echo?h=X-Api-Key&" + c.query, Credential: "echo"},
			&wire.RequestOptions{ResponseHeaders: []string{"X-Echo"}})
		data := resultJSON(t, r)
		if r.Error != c.kind || !r.Redacted || !strings.Contains(string(data), redacted) {
			t.Errorf("%s: %s", c.name, data)
		}
		fetchtest.AssertNoSecret(t, data, fetchtest.HardSecret)
	}
}

// A coding the service cannot decode: with a credential, no body and an
// error naming the coding; without, the bytes as they came, in base64,
// with the coding named.
func TestUndecodableContentCoding(t *testing.T) {
	f, echo := echoFetcher(t, Config{}, `{"X-Api-Key": "${S}"}`)
	r := do(f, wire.Request{URL: echo + "/echo?h=X-Api-Key&coding=compress", Credential: "echo"}, nil)
	if r.Error != wire.ErrUnexpected || !strings.Contains(r.Message, `"compress"`) || r.Body != nil || r.BodyBytes != 0 {
		t.Errorf("with a credential: %s", resultJSON(t, r))
	}
	fetchtest.AssertNoSecret(t, resultJSON(t, r), fetchtest.HardSecret)

	r = do(f, wire.Request{URL: echo + "/echo?h=X-Other&coding=gzip,compress", Headers: map[string]string{"X-Other": "as it came"}}, nil)
	want := base64.StdEncoding.EncodeToString(fetchtest.Encode("gzip", []byte("as it came")))
	if r.Error != "" || r.ContentEncoding != "gzip, compress" || r.BodyEncoding != "base64" || string(r.Body) != `"`+want+`"` {
		t.Errorf("without a credential: %s", resultJSON(t, r))
	}
	fetchtest.AssertBodyHash(t, resultJSON(t, r))
}

// Each content coding is decoded, stacked ones too, up to three (br and
// zstd at most once between them); an empty body with a coding is empty;
// a fourth layer is an error.
func TestContentCodingsDecoded(t *testing.T) {
	f, echo := echoFetcher(t, Config{}, `{"X-Api-Key": "${S}"}`)
	for _, coding := range []string{"gzip", "x-gzip", "deflate", "deflate-raw", "br", "zstd", "identity,gzip", "br,gzip,deflate", "deflate,zstd,gzip"} {
		r := do(f, wire.Request{URL: echo + "/echo?h=X-Other&coding=" + coding, Headers: map[string]string{"X-Other": "hello"}}, nil)
		if r.Error != "" || string(r.Body) != `"hello"` || r.BodyBytes != 5 || r.ContentEncoding != "" {
			t.Errorf("%s: %s", coding, resultJSON(t, r))
		}
	}
	r := do(f, wire.Request{URL: echo + "/echo?h=X-None&coding=gzip"}, nil)
	if r.Error != "" || r.Body != nil || r.BodyBytes != 0 {
		t.Errorf("empty gzip body: %s", resultJSON(t, r))
	}
	r = do(f, wire.Request{URL: echo + "/echo?h=X-Other&coding=gzip,gzip,gzip,gzip", Headers: map[string]string{"X-Other": "deep"}}, nil)
	if r.Error != wire.ErrUnexpected || !strings.Contains(r.Message, "more than 3") {
		t.Errorf("four codings: %s", resultJSON(t, r))
	}
}

// A request may not choose Accept-Encoding, as an item's header or a
// batch default, in any case: invalid_request, saying the service chooses.
func TestAcceptEncodingRefused(t *testing.T) {
	f, echo := echoFetcher(t, Config{}, `{"X-Api-Key": "${S}"}`)
	for _, c := range []struct {
		req  wire.Request
		opts *wire.RequestOptions
	}{
		{wire.Request{URL: echo + "/echo", Headers: map[string]string{"Accept-Encoding": "gzip"}, Credential: "echo"}, nil},
		{wire.Request{URL: echo + "/echo", Headers: map[string]string{"accept-encoding": "identity"}}, nil},
		{wire.Request{URL: echo + "/echo", Credential: "echo"}, &wire.RequestOptions{Headers: map[string]string{"ACCEPT-ENCODING": "deflate"}}},
	} {
		r := do(f, c.req, c.opts)
		if r.Error != wire.ErrInvalidRequest || !strings.Contains(r.Message, "Accept-Encoding") || !strings.Contains(r.Message, "the service chooses it") {
			t.Errorf("%v %v: %s", c.req.Headers, c.opts, resultJSON(t, r))
		}
	}
	// The service's own: every coding it decodes.
	r := do(f, wire.Request{URL: echo + "/echo?h=Accept-Encoding"}, nil)
	if string(r.Body) != `"`+wire.AcceptEncoding+`"` {
		t.Errorf("sent Accept-Encoding %s, want %q", r.Body, wire.AcceptEncoding)
	}
}

// "[credential]" standing for a secret shorter than itself does not make
// the body returned longer than --max-body, but for a marker the cut
// would split, shown whole.
func TestRedactedBodyStaysWithinTheCap(t *testing.T) {
	const short, maxBody = "q7#x", 1000
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, strings.Repeat(r.Header.Get("X-Key"), maxBody/len(short)))
	}))
	t.Cleanup(srv.Close)
	set, err := credentials.Parse([]byte(`{"k": {"hosts": ["`+srv.Listener.Addr().String()+`"], "headers": {"X-Key": "${S}"}}}`),
		func(string) (string, bool) { return short, true })
	if err != nil {
		t.Fatal(err)
	}
	f := newTestFetcher(t, Config{Policy: loopbackOnly, MaxBody: maxBody, Credentials: set})
	r := do(f, wire.Request{URL: srv.URL, Credential: "k"}, nil)
	data := resultJSON(t, r)
	if r.Error != "" || !r.Redacted || !r.BodyTruncated || r.BodyBytes > maxBody+int64(len(redacted))-1 ||
		!strings.HasSuffix(string(r.Body), redacted+`"`) || strings.Contains(string(data), short) {
		t.Errorf("%.300s", data)
	}
	fetchtest.AssertBodyHash(t, data)
}

// An echo in a charset the response declares (UTF-16 here) is converted
// to UTF-8 before redaction, so it is caught too.
func TestCredentialEchoedInAnotherCharset(t *testing.T) {
	f, echo := echoFetcher(t, Config{}, `{"X-Api-Key": "${S}"}`)
	q := url.Values{"h": {"X-Api-Key"}, "form": {"utf16le"}, "type": {"text/plain; charset=utf-16le"}}
	r := do(f, wire.Request{URL: echo + "/echo?" + q.Encode(), Credential: "echo"}, nil)
	data := resultJSON(t, r)
	if r.Error != "" || !r.Redacted || string(r.Body) != `"[credential]"` || r.BodyCharset != "utf-16le" {
		t.Errorf("%s", data)
	}
	fetchtest.AssertNoSecret(t, data, fetchtest.HardSecret)
	fetchtest.AssertBodyHash(t, data)
}
