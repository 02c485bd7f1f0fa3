package fetchtest

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// The checker finds a piece of the secret in each form it names, wherever
// in a result it is, and nothing in a result without one.
func TestSecretLeaksFindsEachForm(t *testing.T) {
	piece := HardSecret[10:20]
	result := func(body string, base64Body bool) []byte {
		r := map[string]any{"url": "http://example.test/", "body": body}
		if base64Body {
			r["body_encoding"] = "base64"
		}
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	if leaks := SecretLeaks(result("nothing here [credential]", false), HardSecret); len(leaks) != 0 {
		t.Errorf("a clean result: %v", leaks)
	}
	for _, form := range EchoForms {
		for before := range 3 {
			text := strings.Repeat("y", before) + EchoForm(form, piece) + "zz"
			if strings.HasPrefix(form, "b64") {
				text = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("y", before) + piece + "zz"))
				if strings.Contains(form, "url") {
					text = base64.URLEncoding.EncodeToString([]byte(strings.Repeat("y", before) + piece + "zz"))
				}
			}
			if len(SecretLeaks(result(text, false), HardSecret)) == 0 {
				t.Errorf("%s after %d bytes: not found in %q", form, before, text)
			}
		}
	}
	raw := []byte(strings.Repeat("\x00", 2) + piece)
	if len(SecretLeaks(result(base64.StdEncoding.EncodeToString(raw), true), HardSecret)) == 0 {
		t.Error("a base64 body holding the piece: not found")
	}
	if len(SecretLeaks([]byte(`{"headers":{"x-echo":"`+piece+`"}}`), HardSecret)) == 0 { // piece has no '"' nor '\'
		t.Error("a header holding the piece: not found")
	}
}
