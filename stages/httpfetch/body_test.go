package httpfetch

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

func TestEmbedBody(t *testing.T) {
	binary := []byte{0xff, 0xfe, 0x00, 0x01}
	cases := []struct {
		name        string
		body        string
		contentType string
		mode        BodyMode
		want        string // the embedded JSON; "" for none
		encoding    string
	}{
		{"JSON as JSON", `{"a": [1, 2]}`, "application/json", BodyAuto, `{"a":[1,2]}`, ""}, // compacted, as it goes on the wire,
		{"JSON under +json", `[1]`, "application/problem+json; charset=utf-8", BodyAuto, `[1]`, ""},
		{"JSON without a type", `{"a":1}`, "", BodyAuto, `{"a":1}`, ""},
		{"JSON served as HTML stays text", `{"a":1}`, "text/html", BodyAuto, `"{\"a\":1}"`, ""},
		{"invalid JSON as text", `{"a":`, "application/json", BodyAuto, `"{\"a\":"`, ""},
		{"text", "héllo\n<b>&</b>", "text/html", BodyAuto, `"héllo\n<b>&</b>"`, ""},
		{"binary as base64", string(binary), "image/png", BodyAuto, `"` + base64.StdEncoding.EncodeToString(binary) + `"`, "base64"},
		{"NULs are binary", "a\x00b", "text/plain", BodyAuto, `"` + base64.StdEncoding.EncodeToString([]byte("a\x00b")) + `"`, "base64"},
		{"many controls are binary", strings.Repeat("\x01a", 10), "", BodyAuto, `"` + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x01a", 10))) + `"`, "base64"},
		{"a stray control is text", "\x01" + strings.Repeat("a", 200), "", BodyAuto, `"\u0001` + strings.Repeat("a", 200) + `"`, ""},
		{"empty", "", "text/plain", BodyAuto, "", ""},
		{"text mode: JSON", `{"a":1}`, "application/json", BodyText, `{"a":1}`, ""},
		{"text mode: text", "hi", "text/plain", BodyText, `"hi"`, ""},
		{"text mode: binary left out", string(binary), "image/png", BodyText, "", ""},
		{"none mode: JSON left out", `{"a":1}`, "application/json", BodyNone, "", ""},
		{"none mode: text left out", "hi", "text/plain", BodyNone, "", ""},
	}
	for _, c := range cases {
		got, encoding := EmbedBody([]byte(c.body), c.contentType, c.mode)
		if string(got) != c.want || encoding != c.encoding {
			t.Errorf("%s: EmbedBody = %s (%q), want %s (%q)", c.name, got, encoding, c.want, c.encoding)
		}
		if got != nil && !json.Valid(got) {
			t.Errorf("%s: %s is not valid JSON", c.name, got)
		}
	}
}

func TestParseBodyMode(t *testing.T) {
	for in, want := range map[string]BodyMode{"": BodyAuto, "auto": BodyAuto, "TEXT": BodyText, " none ": BodyNone} {
		if got, err := ParseBodyMode(in); err != nil || got != want {
			t.Errorf("ParseBodyMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseBodyMode("base64"); err == nil {
		t.Error("ParseBodyMode(base64) should fail")
	}
}

func TestTrimPartialRune(t *testing.T) {
	euro := "€" // 3 bytes
	cases := []struct{ in, want string }{
		{"abc", "abc"},
		{"ab" + euro, "ab" + euro},
		{"ab" + euro[:1], "ab"},
		{"ab" + euro[:2], "ab"},
		{"ab\uFFFD", "ab\uFFFD"},         // a real replacement character stays
		{"\xff\xfe\xfd", "\xff\xfe\xfd"}, // binary is left alone
		{"", ""},
	}
	for _, c := range cases {
		if got := string(trimPartialRune([]byte(c.in))); got != c.want {
			t.Errorf("trimPartialRune(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// The cap against a real server: bodies cut at the cap, the count and
// hash of what was read, text cut mid-rune still text, and --refuse-large.
func TestBodyCap(t *testing.T) {
	h := fetchtest.NewHostile(t)
	const capBytes = 1001 // odd, so 2-byte runes are cut in the middle
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	cut := newTestFetcher(t, Config{Policy: loopbackOnly, MaxBody: capBytes})
	refuse := newTestFetcher(t, Config{Policy: loopbackOnly, MaxBody: capBytes, RefuseLarge: true})
	none := newTestFetcher(t, Config{Policy: loopbackOnly, MaxBody: capBytes, BodyMode: BodyNone})
	textOnly := newTestFetcher(t, Config{Policy: loopbackOnly, MaxBody: capBytes, BodyMode: BodyText})

	r, _ := fetch(cut, h.URL("/utf8/2000"), 2*time.Second) // under 2 KiB, so net/http declares its length
	full := []byte(strings.Repeat("é", 2000))
	var text string
	if err := json.Unmarshal(r.Body, &text); err != nil || r.BodyEncoding != "" {
		t.Fatalf("cut text: body %.40s (%q) should be a JSON string: %v", r.Body, r.BodyEncoding, err)
	}
	if !r.BodyTruncated || r.BodyBytes != capBytes || r.BodySHA256 != sum(full[:capBytes]) ||
		r.ContentLength != 2000 || text != string(full[:capBytes-1]) || !utf8.ValidString(text) {
		t.Errorf("cut text: truncated=%v bytes=%d length=%d text %d bytes; want cut at %d, declared 2000, %d bytes of whole runes",
			r.BodyTruncated, r.BodyBytes, r.ContentLength, len(text), capBytes, capBytes-1)
	}

	r, _ = fetch(cut, h.URL("/utf8/1000"), 2*time.Second)
	if r.BodyTruncated || r.BodyBytes != 1000 || r.ContentLength != 1000 || r.BodySHA256 != sum(full[:1000]) {
		t.Errorf("under the cap: truncated=%v bytes=%d length=%d", r.BodyTruncated, r.BodyBytes, r.ContentLength)
	}

	r, _ = fetch(refuse, h.URL("/utf8/4000"), 2*time.Second)
	if r.Error != wire.ErrTooLarge || r.Body != nil || r.Status != 200 || !strings.Contains(r.Message, "more than 1001 bytes") {
		t.Errorf("refuse-large: %q status %d body %.20s (%s); want too_large without a body", r.Error, r.Status, r.Body, r.Message)
	}

	r, _ = fetch(cut, h.URL("/bytes/100"), 2*time.Second)
	raw, err := base64.StdEncoding.DecodeString(strings.Trim(string(r.Body), `"`))
	if err != nil || r.BodyEncoding != "base64" || r.BodyBytes != 100 || r.BodySHA256 != sum(raw) {
		t.Errorf("binary: encoding %q, bytes %d, hash matches %v (%v)", r.BodyEncoding, r.BodyBytes, r.BodySHA256 == sum(raw), err)
	}
	r2, _ := fetch(textOnly, h.URL("/bytes/100"), 2*time.Second)
	if r2.Body != nil || r2.BodyBytes != 100 || r2.BodySHA256 != r.BodySHA256 {
		t.Errorf("text mode, binary: body %.20s bytes %d; want no body, the same count and hash", r2.Body, r2.BodyBytes)
	}
	r, _ = fetch(none, h.URL("/json"), 2*time.Second)
	if r.Body != nil || r.BodyBytes != 34 || r.BodySHA256 != sum([]byte(`{"hello": "world", "n": [1, 2, 3]}`)) {
		t.Errorf("none mode: body %s bytes %d; want no body with count and hash", r.Body, r.BodyBytes)
	}
}

// Every result says where it went, how, when and how long each phase took.
func TestResultDetail(t *testing.T) {
	h := fetchtest.NewHostile(t)
	f := newTestFetcher(t, Config{Policy: loopbackOnly})
	before := time.Now().UTC()
	first, _ := fetch(f, h.URL("/json"), 2*time.Second)
	second, _ := fetch(f, h.URL("/json"), 2*time.Second)
	if first.Timing == nil || second.Timing == nil {
		t.Fatalf("no timing: %+v / %+v", first.Timing, second.Timing)
	}
	if first.Timing.Reused || first.Timing.ConnectMS <= 0 || first.Timing.TTFBMS <= 0 || first.Timing.TTFBMS > first.ElapsedMS {
		t.Errorf("first request: timing %+v elapsed %v; want a new connection, connect and ttfb within elapsed", *first.Timing, first.ElapsedMS)
	}
	if !second.Timing.Reused || second.Timing.ConnectMS != 0 || second.Timing.DNSMS != 0 || second.Timing.TTFBMS <= 0 {
		t.Errorf("second request: timing %+v; want the connection reused, no dns or connect", *second.Timing)
	}
	if first.Timing.DNSMS != 0 {
		t.Errorf("dns_ms %v for an IP literal", first.Timing.DNSMS)
	}
	if first.FetchedAt.Before(before.Add(-time.Millisecond)) || first.FetchedAt.After(time.Now()) || first.FetchedAt.Location() != time.UTC {
		t.Errorf("fetched_at %v, want a UTC time during the test", first.FetchedAt)
	}
	if first.ContentType != "application/json" || first.ContentLength != 34 || first.Attempts != 1 || first.FinalURL != "" || first.Redirects != 0 {
		t.Errorf("first: %+v", first)
	}

	byName := newTestFetcher(t, Config{Policy: loopbackOnly})
	r, _ := fetch(byName, "http://localhost:"+portOf(h.Listener)+"/json", 2*time.Second)
	if !r.OK() || r.Timing == nil || r.Timing.DNSMS <= 0 {
		t.Errorf("by name: %q timing %+v; want dns_ms measured", r.Error, r.Timing)
	}

	to := h.URL("/json")
	r, _ = fetch(f, h.URL("/redirect?to=/redirect%3Fto%3D"+strings.ReplaceAll(to, ":", "%253A")), 2*time.Second)
	if !r.OK() || r.Redirects != 2 || r.FinalURL != to {
		t.Errorf("two redirects: %q redirects %d final_url %q; want ok, 2, %q", r.Error, r.Redirects, r.FinalURL, to)
	}

	data, _ := json.Marshal(first)
	for _, field := range []string{`"attempts":1`, `"fetched_at":"`, `"timing":{`, `"ttfb_ms":`, `"body_bytes":34`, `"body_sha256":"`, `"content_length":34`} {
		if !strings.Contains(string(data), field) {
			t.Errorf("result JSON lacks %s: %s", field, data)
		}
	}
}

// An empty body has neither body_bytes nor body_sha256; a non-empty one
// has both.
func TestEmptyBodyHasNoHash(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/empty" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte("x"))
	}))
	defer srv.Close()
	f := newTestFetcher(t, Config{Policy: loopbackOnly})
	empty, _ := fetch(f, srv.URL+"/empty", 5*time.Second)
	if empty.Status != http.StatusNotFound || empty.BodyBytes != 0 || empty.BodySHA256 != "" {
		t.Errorf("empty 404: status %d, body_bytes %d, body_sha256 %q; want 404 and neither", empty.Status, empty.BodyBytes, empty.BodySHA256)
	}
	one, _ := fetch(f, srv.URL+"/one", 5*time.Second)
	if one.BodyBytes != 1 || one.BodySHA256 != "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881" {
		t.Errorf("one byte: body_bytes %d, body_sha256 %q", one.BodyBytes, one.BodySHA256)
	}
}
