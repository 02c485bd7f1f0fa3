package httpfetch

import (
	"bytes"

	"github.com/fetchstream/fetchstream/wire"
)

// redacted stands in a response for a credential's value that the
// server echoed back, in whichever form it was echoed.
const redacted = "[credential]"

// redactor replaces a credential's patterns (credentials.Credential's
// Patterns: its secrets in every form an echo gives them) in one pass
// over a text: at each position the longest pattern that starts there is
// replaced with "[credential]", and the scan goes on after it. Patterns
// are indexed by their first byte, so a position costs one table look-up
// unless some pattern starts with its byte. A redactor is read-only once
// built and safe for concurrent use.
type redactor struct {
	patterns [][]byte
	byFirst  [256][]uint16 // indices into patterns, longest first
}

// newRedactor indexes patterns, which must be sorted longest first.
func newRedactor(patterns [][]byte) *redactor {
	r := &redactor{patterns: patterns}
	for i, p := range patterns {
		if len(p) > 0 && i <= 0xffff {
			r.byFirst[p[0]] = append(r.byFirst[p[0]], uint16(i))
		}
	}
	return r
}

// redact returns text[:cut] with every pattern that starts before cut
// replaced whole, even where it runs on past cut (text must reach far
// enough past cut to hold it: see readBody), and whether it replaced
// any. With nothing to replace it returns text[:cut] itself, without
// allocating.
func (r *redactor) redact(text []byte, cut int) ([]byte, bool) {
	var out []byte
	done := 0 // text[:done] is in out already
	for i := 0; i < cut; i++ {
		candidates := r.byFirst[text[i]]
		if len(candidates) == 0 {
			continue
		}
		for _, j := range candidates {
			if p := r.patterns[j]; bytes.HasPrefix(text[i:], p) {
				if out == nil {
					out = make([]byte, 0, cut+len(redacted))
				}
				out = append(append(out, text[done:i]...), redacted...)
				done = i + len(p)
				i = done - 1
				break
			}
		}
	}
	if out == nil {
		return text[:cut], false
	}
	if done < cut {
		out = append(out, text[done:cut]...)
	}
	return out, true
}

// redactString is redact of all of s, as a string.
func (r *redactor) redactString(s string) (string, bool) {
	out, changed := r.redact([]byte(s), len(s))
	if !changed {
		return s, false
	}
	return string(out), true
}

// redactResult redacts what a result shows of a response besides its
// body: the headers asked for, content_type, final_url and message (a
// server may put an echo in any of them), and marks res
// Redacted when any held a pattern. A nil redactor does nothing.
func (r *redactor) redactResult(res *wire.Result) {
	if r == nil {
		return
	}
	var changed bool
	for name, value := range res.Headers {
		if value, changed = r.redactString(value); changed {
			res.Headers[name], res.Redacted = value, true
		}
	}
	if res.ContentType, changed = r.redactString(res.ContentType); changed {
		res.Redacted = true
	}
	if res.FinalURL, changed = r.redactString(res.FinalURL); changed {
		res.Redacted = true
	}
	if res.Message, changed = r.redactString(res.Message); changed {
		res.Redacted = true
	}
}
