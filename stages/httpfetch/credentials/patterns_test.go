package credentials

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
)

// Patterns are each secret in each form, distinct, longest first, and
// MaxPatternLen is the first one's length.
func TestPatterns(t *testing.T) {
	const value = `a<b&c"d\e+f/g=h i'j`
	set, err := Parse([]byte(`{"k": {"hosts": ["a"], "headers": {"Authorization": "Bearer ${V}"}}}`),
		env(map[string]string{"V": value}))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := set.Lookup("k")
	var got []string
	for _, p := range c.Patterns() {
		got = append(got, string(p))
	}
	if !slices.IsSortedFunc(got, func(a, b string) int { return len(b) - len(a) }) || c.MaxPatternLen() != len(got[0]) {
		t.Errorf("not longest first, or MaxPatternLen %d wrong: %q", c.MaxPatternLen(), got)
	}
	for _, want := range []string{
		"Bearer " + value, value,
		`a\u003cb\u0026c\"d\\e+f/g=h i'j`, `a<b&c\"d\\e+f/g=h i'j`, `a\u003cb\u0026c\"d\\e+f\/g=h i'j`, // JSON
		"a%3Cb%26c%22d%5Ce%2Bf%2Fg%3Dh+i%27j", "a%3cb%26c%22d%5ce%2bf%2fg%3dh+i%27j", // query
		"a%3Cb&c%22d%5Ce+f%2Fg=h%20i%27j",                                              // path
		"a&lt;b&amp;c&#34;d\\e+f/g=h i&#39;j", "a&lt;b&amp;c&quot;d\\e+f/g=h i&#x27;j", // HTML
		base64.StdEncoding.EncodeToString([]byte(value)), base64.RawURLEncoding.EncodeToString([]byte(value)),
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no pattern %q", want)
		}
	}
	// Inside a longer base64 text, at each alignment, the characters that
	// depend on the value alone are a pattern.
	for align := range 3 {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			text := enc.EncodeToString([]byte(strings.Repeat("\xff", align) + value + "\x00\x00\x00"))
			found := false
			for _, p := range got {
				found = found || (len(p) >= len(value) && strings.Contains(text, p))
			}
			if !found {
				t.Errorf("alignment %d: no pattern in %s", align, text)
			}
		}
	}
}

// The base64 core holds no character that depends on the bytes around
// the value.
func TestBase64Core(t *testing.T) {
	for n := 4; n < 12; n++ {
		value := strings.Repeat("k", n)
		for align := range 3 {
			core := base64Core(base64.StdEncoding.WithPadding(base64.NoPadding), value, align)
			for _, around := range []byte{0x00, 0xff, 0x5a} {
				pad := strings.Repeat(string([]byte{around}), 3)
				text := base64.StdEncoding.EncodeToString([]byte(pad[:align] + value + pad))
				if !strings.Contains(text, core) {
					t.Errorf("n %d align %d: core %q not in %q", n, align, core, text)
				}
			}
		}
	}
}
