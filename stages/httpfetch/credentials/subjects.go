package credentials

import (
	"errors"
	"fmt"

	"github.com/fetchstream/fetchstream/wire"
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
		if err := wire.ValidSubject(p, true); err != nil {
			return fmt.Errorf("subject %q: %v", p, err)
		}
	}
	c.subjects = patterns
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
		if wire.SubjectMatches(p, subject) {
			return true
		}
	}
	return false
}
