package credentials

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// Patterns is every byte string a response must not show of the
// credential: each of Secrets in each form an echo may give it (see
// Forms), distinct, longest first, so that a redactor that tries them in
// this order replaces a whole value before any of its parts. They are
// computed once, when the credential is loaded; the slice and its byte
// slices are the credential's own: do not change them.
func (c *Credential) Patterns() [][]byte { return c.patterns }

// MaxPatternLen is the length of the longest of Patterns: how far past a
// cut a reader must look to see whole any pattern that starts before it.
func (c *Credential) MaxPatternLen() int {
	if len(c.patterns) == 0 {
		return 0
	}
	return len(c.patterns[0])
}

// patternsOf is Forms of each secret, distinct, longest first.
func patternsOf(secrets []string) [][]byte {
	var forms []string
	for _, s := range secrets {
		for _, f := range Forms(s) {
			if len(f) >= minSecret && !slices.Contains(forms, f) {
				forms = append(forms, f)
			}
		}
	}
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	patterns := make([][]byte, len(forms))
	for i, f := range forms {
		patterns[i] = []byte(f)
	}
	return patterns
}

// Forms are the spellings a server that reflects secret may give it, as
// far as they can be found without knowing where it sits:
//   - as is;
//   - JSON-escaped, as encoding/json writes it (with \u003c, \u003e,
//     \u0026 for <, >, &) and without HTML escaping, and with / as \/;
//   - percent-encoded as a query value (space as +) and as a path
//     segment (space as %20), and with every byte but the unreserved
//     ones escaped, each with upper- and lower-case hex;
//   - HTML-escaped (&#34; or &quot;; &#39;, &#x27; or &apos;);
//   - base64, standard and URL alphabets: the whole value's encoding,
//     padded and not, and, for the value inside a longer base64 text
//     starting at each of the three alignments, the characters that
//     depend only on the value.
//
// Forms that equal another are given once.
func Forms(secret string) []string {
	var forms []string
	add := func(f string) {
		if f != "" && !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	add(secret)
	for _, f := range jsonForms(secret) {
		add(f)
	}
	for _, f := range percentForms(secret) {
		add(f)
	}
	for _, f := range htmlForms(secret) {
		add(f)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		add(enc.EncodeToString([]byte(secret)))
		raw := enc.WithPadding(base64.NoPadding)
		add(raw.EncodeToString([]byte(secret)))
		for align := range 3 {
			add(base64Core(raw, secret, align))
		}
	}
	return forms
}

// jsonForms is secret as a JSON string's content: encoding/json's with
// and without HTML escaping, and each with / written \/ (as PHP does).
func jsonForms(secret string) []string {
	quoted, _ := json.Marshal(secret) // HTML-safe: \u003c \u003e \u0026
	htmlSafe := string(quoted[1 : len(quoted)-1])
	plain := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(htmlSafe)
	slashed := strings.NewReplacer("/", `\/`)
	return []string{htmlSafe, plain, slashed.Replace(htmlSafe), slashed.Replace(plain)}
}

// percentForms is secret percent-encoded as a query value, as a path
// segment, as a URL's path (the way Go writes a URL it parsed from a
// Location header: '/', '&', '+', '=' and the like left as they are),
// and with everything but RFC 3986's unreserved characters escaped, each
// with upper- and lower-case hex digits.
func percentForms(secret string) []string {
	var strict strings.Builder
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(secret); i++ {
		c := secret[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			strict.WriteByte(c)
			continue
		}
		strict.WriteByte('%')
		strict.WriteByte(hex[c>>4])
		strict.WriteByte(hex[c&15])
	}
	upper := []string{url.QueryEscape(secret), url.PathEscape(secret), (&url.URL{Path: secret}).EscapedPath(), strict.String(),
		strings.ReplaceAll(url.QueryEscape(secret), "+", "%20")}
	var forms []string
	for _, f := range upper {
		forms = append(forms, f, lowerHex(f))
	}
	return forms
}

// lowerHex lower-cases the two hex digits after each '%' in s.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = toLower(b[i+1]), toLower(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func toLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// htmlForms is secret HTML-escaped as html.EscapeString does (&#34;
// &#39;), and with the named or hex references others use.
func htmlForms(secret string) []string {
	base := []string{"&", "&amp;", "<", "&lt;", ">", "&gt;"}
	var forms []string
	for _, quotes := range [][]string{
		{`"`, "&#34;", "'", "&#39;"},
		{`"`, "&quot;", "'", "&#39;"},
		{`"`, "&quot;", "'", "&#x27;"},
		{`"`, "&quot;", "'", "&apos;"},
	} {
		forms = append(forms, strings.NewReplacer(append(slices.Clone(base), quotes...)...).Replace(secret))
	}
	return forms
}

// base64Core is what enc (unpadded) writes for secret when align bytes
// of other data come before it, less the characters that also depend on
// the bytes around it: those of the first group that hold bits of the
// data before, and the last character when the value ends inside a
// group. It is "" when that leaves fewer than minSecret characters.
func base64Core(enc *base64.Encoding, secret string, align int) string {
	data := make([]byte, align+len(secret))
	copy(data[align:], secret)
	text := enc.EncodeToString(data)
	skip := [...]int{0, 2, 3}[align] // characters holding bits of the align bytes before
	if (align+len(secret))%3 != 0 {
		text = text[:len(text)-1] // holds bits of what follows
	}
	if len(text)-skip < minSecret {
		return ""
	}
	return text[skip:]
}
