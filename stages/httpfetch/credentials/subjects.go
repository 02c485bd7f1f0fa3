package credentials

import (
	"errors"
	"fmt"
	"strings"
)

// setSubjects keeps the input subject patterns a credential file lists
// for it: absent, any subject may use it; present, it must name at least
// one, each a NATS subject where "*" stands for one token and ">" (last)
// for the rest.
func (c *Credential) setSubjects(patterns []string) error {
	if patterns == nil {
		return nil
	}
	if len(patterns) == 0 {
		return errors.New(`"subjects" is empty, so no batch could use it: list the input subjects that may, or leave it out for any`)
	}
	for _, p := range patterns {
		if err := validPattern(p); err != nil {
			return fmt.Errorf("subject %q: %v", p, err)
		}
	}
	c.subjects = patterns
	return nil
}

// validPattern checks a subject pattern: dot-separated non-empty tokens
// without white space, ">" only as the last token.
func validPattern(p string) error {
	tokens := strings.Split(p, ".")
	for i, token := range tokens {
		switch {
		case token == "":
			return errors.New("empty token: want a NATS subject such as fetch.urls.billing or fetch.urls.*")
		case strings.ContainsAny(token, " \t\r\n"):
			return errors.New("white space in a subject")
		case token == ">" && i != len(tokens)-1:
			return errors.New("'>' must be the last token")
		}
	}
	return nil
}

// Subjects lists the input subject patterns whose batches may use the
// credential; nil: any subject. It is a new slice at each call.
func (c *Credential) Subjects() []string {
	if c.subjects == nil {
		return nil
	}
	return append([]string(nil), c.subjects...)
}

// AllowsSubject reports whether a batch that arrived on subject may use
// the credential: always when the file lists no subjects for it, else
// when one of its patterns matches subject. An unknown subject ("") is
// matched by no pattern.
func (c *Credential) AllowsSubject(subject string) bool {
	if c.subjects == nil {
		return true
	}
	for _, p := range c.subjects {
		if matches(p, subject) {
			return true
		}
	}
	return false
}

// matches reports whether the pattern p matches the literal subject s.
func matches(p, s string) bool {
	if s == "" {
		return false
	}
	pt, st := strings.Split(p, "."), strings.Split(s, ".")
	for i, token := range pt {
		switch {
		case token == ">":
			return len(st) > i
		case i >= len(st):
			return false
		case token != "*" && token != st[i]:
			return false
		}
	}
	return len(pt) == len(st)
}
