package credentials

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const secret = "s3cret-value"

func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
}

func TestParse(t *testing.T) {
	lookup := env(map[string]string{"TOKEN": secret, "EMPTY": "", "NL": secret + "\n"})
	cases := []struct {
		name, file string
		err        string // in the error; "" for none
	}{
		{"one credential", `{"gh": {"hosts": ["api.github.com"], "headers": {"Authorization": "Bearer ${TOKEN}"}}}`, ""},
		{"several headers and hosts", `{"k": {"hosts": ["a.example", "b.example:8443", "[::1]:80"], "headers": {"X-Api-Key": "${TOKEN}", "x-tenant": "t1"}}}`, ""},
		{"a dollar that is not a variable", `{"k": {"hosts": ["a"], "headers": {"X-Key": "pa$$word $TOKEN"}}}`, ""},
		{"no credentials", `{}`, ""},
		{"missing variable", `{"gh": {"hosts": ["a"], "headers": {"Authorization": "Bearer ${GITHUB_TOKEN}"}}}`, `credential "gh": header Authorization: environment variable GITHUB_TOKEN is not set`},
		{"empty variable", `{"gh": {"hosts": ["a"], "headers": {"Authorization": "${EMPTY}"}}}`, "EMPTY is not set or empty"},
		{"a variable ending in a newline", `{"gh": {"hosts": ["a"], "headers": {"Authorization": "${NL}"}}}`, "control character"},
		{"bad variable name", `{"gh": {"hosts": ["a"], "headers": {"Authorization": "${1X}"}}}`, "not a variable name"},
		{"no hosts", `{"gh": {"headers": {"Authorization": "x"}}}`, "no hosts"},
		{"misspelt field", `{"gh": {"host": ["a"], "headers": {"Authorization": "x"}}}`, "unknown field"},
		{"no headers", `{"gh": {"hosts": ["a"]}}`, "no headers"},
		{"a URL for a host", `{"gh": {"hosts": ["https://a/"], "headers": {"A": "x"}}}`, "without scheme"},
		{"a wildcard host", `{"gh": {"hosts": ["*.a"], "headers": {"A": "x"}}}`, "host"},
		{"bad port", `{"gh": {"hosts": ["a:http"], "headers": {"A": "x"}}}`, "host:port"},
		{"forbidden header", `{"gh": {"hosts": ["a"], "headers": {"Host": "x"}}}`, "Host may not"},
		{"Accept-Encoding", `{"gh": {"hosts": ["a"], "headers": {"accept-encoding": "gzip"}}}`, "Accept-Encoding may not be set: the service chooses"},
		{"bad header name", `{"gh": {"hosts": ["a"], "headers": {"X Key": "x"}}}`, "not an HTTP token"},
		{"bad name", `{"a b": {"hosts": ["a"], "headers": {"A": "x"}}}`, "credential name"},
		{"not an object", `["gh"]`, "JSON object"},
		{"trailing data", `{} {}`, "after the JSON object"},
	}
	for _, c := range cases {
		set, err := Parse([]byte(c.file), lookup)
		if c.err == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			} else if set == nil {
				t.Errorf("%s: nil set", c.name)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want ErrInvalid mentioning %q", c.name, err, c.err)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the secret: %v", c.name, err)
		}
	}
}

func TestCredential(t *testing.T) {
	set, err := Parse([]byte(`{
		"gh": {"hosts": ["API.github.com", "uploads.github.com:443"], "headers": {"authorization": "Bearer ${TOKEN}", "X-Extra": "e"}},
		"v6": {"hosts": ["[::1]:8080", "::2"], "headers": {"X-Key": "k"}}}`), env(map[string]string{"TOKEN": secret}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Names(), ","); got != "gh,v6" || set.Len() != 2 {
		t.Errorf("names %s", got)
	}
	gh, ok := set.Lookup("gh")
	if !ok {
		t.Fatal("gh not found")
	}
	if _, ok := set.Lookup("nope"); ok {
		t.Error("found an unknown credential")
	}
	if got := gh.Header().Get("Authorization"); got != "Bearer "+secret {
		t.Errorf("Authorization %q", got)
	}
	if got := strings.Join(gh.HeaderNames(), ","); got != "Authorization,X-Extra" {
		t.Errorf("header names %s", got)
	}
	v6, _ := set.Lookup("v6")
	for _, c := range []struct {
		cred       *Credential
		host, port string
		want       bool
	}{
		{gh, "api.github.com", "443", true},
		{gh, "API.GitHub.com", "8080", true}, // a host without a port allows any port
		{gh, "api.github.com.", "443", true},
		{gh, "uploads.github.com", "443", true},
		{gh, "uploads.github.com", "80", false},
		{gh, "github.com", "443", false},
		{gh, "api.github.com.evil", "443", false},
		{gh, "evil.api.github.com", "443", false},
		{v6, "::1", "8080", true},
		{v6, "::1", "80", false},
		{v6, "::2", "1", true},
	} {
		if got := c.cred.Allows(c.host, c.port); got != c.want {
			t.Errorf("%s allows %s port %s: %v, want %v", c.cred.Name(), c.host, c.port, got, c.want)
		}
	}
	for _, shown := range []string{gh.String(), gh.GoString()} {
		if strings.Contains(shown, secret) || !strings.Contains(shown, "gh") {
			t.Errorf("printed as %q", shown)
		}
	}
	var none *Set
	if _, ok := none.Lookup("gh"); ok || none.Len() != 0 || none.Names() != nil {
		t.Error("a nil set holds credentials")
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials.json")
	if err := os.WriteFile(path, []byte(`{"k": {"hosts": ["a"], "headers": {"X-Key": "${FETCHSTREAM_TEST_KEY}"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FETCHSTREAM_TEST_KEY", secret)
	set, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := set.Lookup("k"); k.Header().Get("X-Key") != secret {
		t.Error("variable not expanded from the environment")
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, ErrInvalid) {
		t.Errorf("missing file: %v", err)
	}
}

func TestCredentialSecrets(t *testing.T) {
	set, err := Parse([]byte(`{
		"bearer": {"hosts": ["a.example"], "headers": {"Authorization": "Bearer tok-123456"}},
		"basic": {"hosts": ["a.example"], "headers": {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}},
		"key": {"hosts": ["a.example"], "headers": {"X-Api-Key": "k-abcdef"}},
		"short": {"hosts": ["a.example"], "headers": {"Authorization": "Token ab"}}
	}`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		want []string
	}{
		{"bearer", []string{"Bearer tok-123456", "tok-123456"}},
		{"basic", []string{"Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", "user:password", "password"}},
		{"key", []string{"k-abcdef"}},
		{"short", []string{"Token ab"}}, // a two-byte token is not given on its own
	} {
		cred, ok := set.Lookup(c.name)
		if !ok {
			t.Fatalf("no credential %s", c.name)
		}
		if got := cred.Secrets(); !slices.Equal(got, c.want) {
			t.Errorf("%s: Secrets() = %q, want %q (longest first)", c.name, got, c.want)
		}
	}
}
