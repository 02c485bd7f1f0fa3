package fetchtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"strings"
	"testing"
)

// HardSecret is a secret for redaction tests: 48 characters of random
// letters and digits with '"', '\', '<', '>', '&', '+', '/', '=', "'" and
// a space among them, so that every escaping (JSON, HTML, percent) and
// base64 changes it, and it has many 6-character pieces.
const HardSecret = `Qz7"kP\mW<x2&Rb+9/Ty=Lh>Vn'4 Gd8cJf"Ks\e3<Ua&Hw`

// PieceLen is the length of the pieces of a secret that SecretLeaks looks
// for: no 6 characters of a secret may come out.
const PieceLen = 6

// SecretLeaks lists where a result (its JSON as published) shows a piece
// of secret: any PieceLen characters of it, in the raw JSON or in any
// string value of it once decoded (the embedded body too, and a base64
// body decoded), as written, JSON-escaped (with and without HTML
// escaping), percent-encoded (query and path, upper- and lower-case
// hex), HTML-escaped, or in base64 (standard and URL alphabets, at each
// of the three alignments in a longer base64 text). Empty: no leak. It
// derives the forms on its own, not from the code under test.
func SecretLeaks(result []byte, secret string) []string {
	texts := map[string]string{"raw JSON": string(result)}
	var v any
	if err := json.Unmarshal(result, &v); err != nil {
		return []string{fmt.Sprintf("the result is not JSON: %v", err)}
	}
	collectStrings(v, "", texts)
	if m, ok := v.(map[string]any); ok && m["body_encoding"] == "base64" {
		if s, ok := m["body"].(string); ok {
			if data, err := base64.StdEncoding.DecodeString(s); err == nil {
				texts["body, base64-decoded"] = string(data)
			}
		}
	}
	var leaks []string
	for i := 0; i+PieceLen <= len(secret); i++ {
		piece := secret[i : i+PieceLen]
		for form, p := range pieceForms(piece) {
			for where, text := range texts {
				if strings.Contains(text, p) {
					leaks = append(leaks, fmt.Sprintf("%s has piece %d of the secret %s (%q)", where, i, form, p))
				}
			}
		}
	}
	return leaks
}

// AssertNoSecret fails t for each leak SecretLeaks finds in result.
func AssertNoSecret(t testing.TB, result []byte, secret string) {
	t.Helper()
	leaks := SecretLeaks(result, secret)
	for i, leak := range leaks {
		if i == 5 {
			t.Errorf("... and %d more", len(leaks)-i)
			break
		}
		t.Error(leak)
	}
	if len(leaks) > 0 {
		t.Logf("result: %s", result)
	}
}

// AssertBodyHash fails t unless a result's body_sha256 and body_bytes
// describe the body it returns (a string body as text, or base64-decoded;
// a JSON body cannot be checked, as it is re-encoded, and fails).
func AssertBodyHash(t testing.TB, result []byte) {
	t.Helper()
	var r struct {
		Body         json.RawMessage `json:"body"`
		BodyEncoding string          `json:"body_encoding"`
		BodyBytes    int             `json:"body_bytes"`
		BodySHA256   string          `json:"body_sha256"`
	}
	if err := json.Unmarshal(result, &r); err != nil {
		t.Fatal(err)
	}
	var text string
	if err := json.Unmarshal(r.Body, &text); err != nil {
		t.Errorf("body is not a string, so its hash cannot be checked: %s", result)
		return
	}
	body := []byte(text)
	if r.BodyEncoding == "base64" {
		var err error
		if body, err = base64.StdEncoding.DecodeString(text); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256(body)
	if r.BodySHA256 != hex.EncodeToString(sum[:]) || r.BodyBytes != len(body) {
		t.Errorf("body_sha256 %s and body_bytes %d, but the body returned has %d bytes and hash %x: %s",
			r.BodySHA256, r.BodyBytes, len(body), sum, result)
	}
}

// collectStrings adds each string in v (keys too) to texts.
func collectStrings(v any, path string, texts map[string]string) {
	switch v := v.(type) {
	case string:
		texts[path] = v
	case map[string]any:
		for k, e := range v {
			texts[path+"/"+k+" (key)"] = k
			collectStrings(e, path+"/"+k, texts)
		}
	case []any:
		for i, e := range v {
			collectStrings(e, fmt.Sprintf("%s/%d", path, i), texts)
		}
	}
}

// pieceForms is piece in each form SecretLeaks looks for, by name.
func pieceForms(piece string) map[string]string {
	forms := map[string]string{"as is": piece}
	htmlSafe, _ := json.Marshal(piece)
	forms["JSON-escaped"] = string(htmlSafe[1 : len(htmlSafe)-1])
	forms["JSON-escaped without HTML escaping"] = EchoForm("json-plain", piece)
	forms["percent-encoded (query)"] = url.QueryEscape(piece)
	forms["percent-encoded (query, lower hex)"] = EchoForm("query-lower", piece)
	forms["percent-encoded (path)"] = url.PathEscape(piece)
	forms["HTML-escaped"] = html.EscapeString(piece)
	for name, enc := range map[string]*base64.Encoding{"base64": base64.RawStdEncoding, "base64url": base64.RawURLEncoding} {
		for align := range 3 {
			forms[fmt.Sprintf("in %s at alignment %d", name, align)] = base64Inner(enc, piece, align)
		}
	}
	return forms
}

// base64Inner is the part of piece's base64, align bytes into a longer
// text, that is the same whatever bytes come before and after it: found
// by encoding it between all-zero and all-one bytes and keeping the
// characters the two agree on, from the first to the last.
func base64Inner(enc *base64.Encoding, piece string, align int) string {
	wrap := func(b byte) string {
		pad := strings.Repeat(string([]byte{b}), align)
		return enc.EncodeToString([]byte(pad + piece + strings.Repeat(string([]byte{b}), 3)))
	}
	a, b := wrap(0), wrap(0xff)
	start := 0
	for start < len(a) && a[start] != b[start] {
		start++
	}
	end := start
	for end < len(a) && a[end] == b[end] {
		end++
	}
	return a[start:end]
}
