package credentials

import (
	"errors"
	"strings"
	"testing"
)

// A credential's "subjects" scope it to the input subjects they match;
// without them any subject may use it; bad patterns fail the load.
func TestCredentialSubjects(t *testing.T) {
	set, err := Parse([]byte(`{
		"billing": {"hosts": ["api.example.com"], "headers": {"Authorization": "Bearer b"}, "subjects": ["fetch.urls.billing"]},
		"teams": {"hosts": ["api.example.com"], "headers": {"Authorization": "Bearer t"}, "subjects": ["fetch.teams.*", "fetch.all.>"]},
		"open": {"hosts": ["api.example.com"], "headers": {"Authorization": "Bearer o"}}
	}`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cred, subject string
		want          bool
	}{
		{"billing", "fetch.urls.billing", true},
		{"billing", "fetch.urls.other", false},
		{"billing", "fetch.urls", false},
		{"billing", "fetch.urls.billing.x", false},
		{"billing", "", false},
		{"teams", "fetch.teams.a", true},
		{"teams", "fetch.teams.a.b", false},
		{"teams", "fetch.teams", false},
		{"teams", "fetch.all.a.b", true},
		{"teams", "fetch.all", false},
		{"open", "anything.at.all", true},
		{"open", "", true},
	} {
		cred, _ := set.Lookup(c.cred)
		if got := cred.AllowsSubject(c.subject); got != c.want {
			t.Errorf("%s from %q: %v, want %v", c.cred, c.subject, got, c.want)
		}
	}
	if open, _ := set.Lookup("open"); open.Subjects() != nil {
		t.Errorf("a credential without subjects lists %q", open.Subjects())
	}
	for _, bad := range []struct{ subjects, want string }{
		{`[]`, `"subjects" is empty`},
		{`["fetch..urls"]`, "empty token"},
		{`["fetch.>.x"]`, "'>' must be the last token"},
		{`["fetch. urls"]`, "white space"},
		{`[""]`, "empty subject"},
		{`"fetch.urls"`, "JSON object"},
	} {
		_, err := Parse([]byte(`{"c": {"hosts": ["h"], "headers": {"X-Key": "v"}, "subjects": `+bad.subjects+`}}`), env(nil))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("subjects %s: err %v, want it refused saying %q", bad.subjects, err, bad.want)
		}
	}
}
