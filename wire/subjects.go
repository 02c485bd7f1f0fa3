package wire

import (
	"errors"
	"strings"
)

// ValidSubject checks a NATS subject: dot-separated tokens, none empty
// nor holding white space. With wildcards it may be a pattern, "*"
// standing for one token and ">" (last) for one or more; without, it
// must be one subject that a message can be published to.
func ValidSubject(subject string, wildcards bool) error {
	if subject == "" {
		return errors.New("empty subject")
	}
	tokens := strings.Split(subject, ".")
	for i, token := range tokens {
		switch {
		case token == "":
			return errors.New("empty token")
		case strings.ContainsAny(token, " \t\r\n"):
			return errors.New("white space in a subject")
		case !wildcards && (token == "*" || token == ">"):
			return errors.New("a wildcard ('*' or '>') where one subject is wanted")
		case token == ">" && i != len(tokens)-1:
			return errors.New("'>' must be the last token")
		}
	}
	return nil
}

// SubjectMatches reports whether pattern (a valid subject, NATS
// wildcards allowed) matches subject, a subject without wildcards. An
// empty subject is matched by nothing.
func SubjectMatches(pattern, subject string) bool {
	if subject == "" {
		return false
	}
	pt, st := strings.Split(pattern, "."), strings.Split(subject, ".")
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
