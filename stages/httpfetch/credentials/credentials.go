// Package credentials holds the named secrets a fetcher may add to
// requests, loaded once from a JSON file such as
//
//	{"github": {"hosts": ["api.github.com"], "headers": {"Authorization": "Bearer ${GITHUB_TOKEN}"}}}
//
// Batches name a credential, never carry its value. ${VAR} in a header
// value is expanded from the environment at load time; a variable that is
// unset or empty is a load error naming the credential and the variable.
// A credential is sent only to the hosts it lists ("host" on any port, or
// "host:port"), and its headers are stripped from a redirect to any other.
//
// No error, and no method of a Set or a Credential but Header, ever shows
// a header's value: errors name the credential, the header and the
// variable only.
package credentials

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/fetchstream/fetchstream/wire"
)

// ErrInvalid is wrapped by every error of Load and Parse.
var ErrInvalid = errors.New("invalid credentials")

// Set is a loaded, immutable set of credentials, safe for concurrent use.
// The zero Set (and a nil *Set) holds none.
type Set struct{ byName map[string]*Credential }

// Credential is one named secret: headers and the hosts they may go to.
type Credential struct {
	name   string
	hosts  []hostPort
	header http.Header
	// subjects are the input subjects (patterns) whose batches may use
	// it; nil: any (see AllowsSubject).
	subjects []string
	// patterns are Secrets in every form an echo may give them (see
	// Patterns), computed once by build.
	patterns [][]byte
}

type hostPort struct{ host, port string } // port "" matches any

// entry is a credential as the file writes it.
type entry struct {
	Hosts   []string          `json:"hosts"`
	Headers map[string]string `json:"headers"`
	// Subjects, if present, are the input subjects allowed to use it.
	Subjects []string `json:"subjects"`
}

// Load reads and parses the file at path with os.LookupEnv (see Parse).
func Load(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return Parse(data, os.LookupEnv)
}

var (
	namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	varPattern  = regexp.MustCompile(`\$\{([^}]*)\}`)
	varName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Parse reads a credentials file: a JSON object from names (letters,
// digits, '.', '_' and '-', at most 64) to {"hosts": [...], "headers":
// {...}}. Every credential needs at least one host and one header; header
// names must be HTTP tokens and not forbidden in requests
// (wire.ForbiddenHeaders), and values, once ${VAR} is expanded through
// lookup, must be valid header values. An optional "subjects" list
// scopes a credential to the input subjects whose batches may use it
// (NATS wildcards allowed; see Credential.AllowsSubject). Unknown fields
// are errors, so a
// misspelt "host" does not leave a credential open to nowhere or
// everywhere.
func Parse(data []byte, lookup func(string) (string, bool)) (*Set, error) {
	var entries map[string]entry
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("%w: a JSON object of {\"hosts\": [...], \"headers\": {...}} expected: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrInvalid)
	}
	set := &Set{byName: make(map[string]*Credential, len(entries))}
	for name, e := range entries {
		c, err := build(name, e, lookup)
		if err != nil {
			return nil, err
		}
		set.byName[name] = c
	}
	return set, nil
}

func build(name string, e entry, lookup func(string) (string, bool)) (*Credential, error) {
	if !namePattern.MatchString(name) {
		return nil, fmt.Errorf("%w: credential name %q: use letters, digits, '.', '_' and '-', at most 64", ErrInvalid, name)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: credential %q: %s", ErrInvalid, name, fmt.Sprintf(format, args...))
	}
	if len(e.Hosts) == 0 {
		return nil, fail("no hosts: list the hosts it may be sent to")
	}
	if len(e.Headers) == 0 {
		return nil, fail("no headers")
	}
	c := &Credential{name: name, header: make(http.Header, len(e.Headers))}
	for _, h := range e.Hosts {
		hp, err := parseHost(h)
		if err != nil {
			return nil, fail("host %q: %v", h, err)
		}
		c.hosts = append(c.hosts, hp)
	}
	if err := c.setSubjects(e.Subjects); err != nil {
		return nil, fail("%v", err)
	}
	for header, value := range e.Headers {
		if !wire.ValidHeaderName(header) {
			return nil, fail("header name %q is not an HTTP token", header)
		}
		canonical := textproto.CanonicalMIMEHeaderKey(header)
		if wire.ForbiddenHeader(canonical) {
			return nil, fail("header %s may not be set", canonical)
		}
		if canonical == wire.HeaderAcceptEncoding {
			return nil, fail("header %s may not be set: the service chooses the content codings it decodes", canonical)
		}
		expanded, err := expand(value, lookup)
		if err != nil {
			return nil, fail("header %s: %v", canonical, err)
		}
		if !wire.ValidHeaderValue(expanded) {
			return nil, fail("header %s: the value (once expanded) has a control character, such as a trailing newline", canonical)
		}
		c.header[canonical] = []string{expanded}
	}
	c.patterns = patternsOf(c.Secrets())
	return c, nil
}

// expand replaces each ${VAR} in value with lookup's value for VAR. Only
// the ${VAR} form is expanded, so a '$' elsewhere stays as written.
func expand(value string, lookup func(string) (string, bool)) (string, error) {
	var err error
	out := varPattern.ReplaceAllStringFunc(value, func(ref string) string {
		name := ref[2 : len(ref)-1]
		if !varName.MatchString(name) {
			err = fmt.Errorf("${%s} is not a variable name", name)
			return ""
		}
		v, ok := lookup(name)
		if (!ok || v == "") && err == nil {
			err = fmt.Errorf("environment variable %s is not set or empty", name)
		}
		return v
	})
	return out, err
}

// parseHost reads "host" or "host:port" ("[v6]:port" for IPv6 with a
// port), lower-casing the host.
func parseHost(s string) (hostPort, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "/@?#* ") {
		return hostPort{}, errors.New("want host or host:port, without scheme or path")
	}
	if host, port, err := net.SplitHostPort(s); err == nil {
		if host == "" || port == "" || strings.Trim(port, "0123456789") != "" {
			return hostPort{}, errors.New("want host or host:port")
		}
		return hostPort{strings.ToLower(host), port}, nil
	}
	return hostPort{strings.ToLower(strings.Trim(s, "[]")), ""}, nil
}

// Lookup returns the named credential.
func (s *Set) Lookup(name string) (*Credential, bool) {
	if s == nil {
		return nil, false
	}
	c, ok := s.byName[name]
	return c, ok
}

// Names lists the credentials, sorted.
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	names := make([]string, 0, len(s.byName))
	for name := range s.byName {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Len is the number of credentials.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.byName)
}

// Name is the credential's name.
func (c *Credential) Name() string { return c.name }

// Allows reports whether the credential may be sent to host and port
// (the URL's host name, and its port or the scheme's default).
func (c *Credential) Allows(host, port string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, hp := range c.hosts {
		if hp.host == host && (hp.port == "" || hp.port == port) {
			return true
		}
	}
	return false
}

// HeaderNames lists the canonical names of the credential's headers.
func (c *Credential) HeaderNames() []string {
	names := make([]string, 0, len(c.header))
	for name := range c.header {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Header returns the credential's headers, to be set on a request. The
// map is the credential's own: do not change it.
func (c *Credential) Header() http.Header { return c.header }

// Values returns the credential's header values, for a caller that must
// keep them out of what it shows (a response echoing them, say).
func (c *Credential) Values() []string {
	values := make([]string, 0, len(c.header))
	for _, vv := range c.header {
		values = append(values, vv...)
	}
	return values
}

// minSecret is the shortest part of a value that Secrets gives on its
// own: shorter ones would blank out ordinary text where they happen to
// occur, and are no secret worth the name.
const minSecret = 4

// Secrets is what a response must not show of the credential: each header
// value whole, and the parts a server may echo on their own. For a value of
// the form "<scheme> <token>" (Authorization: Bearer, Token, Basic...) the
// token; for Basic, also the decoded "user:password" and the password.
// Longest first, so that a replacement of the whole value goes before
// that of its parts.
func (c *Credential) Secrets() []string {
	var secrets []string
	add := func(s string) {
		if len(s) >= minSecret && !slices.Contains(secrets, s) {
			secrets = append(secrets, s)
		}
	}
	for _, value := range c.Values() {
		add(value)
		scheme, token, ok := strings.Cut(strings.TrimSpace(value), " ")
		if !ok {
			continue
		}
		token = strings.TrimSpace(token)
		add(token)
		if strings.EqualFold(scheme, "Basic") {
			if decoded, err := base64.StdEncoding.DecodeString(token); err == nil {
				add(string(decoded))
				if _, password, ok := strings.Cut(string(decoded), ":"); ok {
					add(password)
				}
			}
		}
	}
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	return secrets
}

// String names the credential without its values, so that printing one
// by mistake shows no secret.
func (c *Credential) String() string { return "credential " + c.name }

// GoString is String, for %#v.
func (c *Credential) GoString() string { return c.String() }
