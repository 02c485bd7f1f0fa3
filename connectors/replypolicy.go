package connectors

import (
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/wire"
)

// DefaultReplySubjects is where replies may go unless a ReplyPolicy says
// otherwise: the inboxes NATS clients make for request-reply.
const DefaultReplySubjects = nats.InboxPrefix + ">"

// microAPI are the subjects a NATS micro service answers on: never a
// reply subject.
const microAPI = "$SRV.>"

// ReplyPolicy decides which subjects a batch may name for its reply
// (its message's reply subject, or the wire.HeaderReplyTo header), so
// that a publisher cannot make the service publish where the publisher
// itself may not: a reply goes only to a subject one of Allowed matches.
// Whatever Allowed says, a reply never goes to a subject the service
// reads or publishes (Served, the source's own subjects, and the micro
// API "$SRV.>"), nor to a subject of NATS's own APIs (first token
// beginning with "$": $JS, $KV, $O, $SYS, ...) unless an entry of
// Allowed begins with that very token ("$KV.teamcfg.>" allows
// "$KV.teamcfg.flag"; ">" does not). A batch whose reply subject is
// refused is not fetched: it ends invalid_batch, with no reply, and its
// summary names the subject and Setting. A nil *ReplyPolicy allows
// DefaultReplySubjects.
type ReplyPolicy struct {
	// Allowed are subject patterns (NATS wildcards allowed); empty: no
	// batch may ask for a reply.
	Allowed []string
	// Served are the subjects (patterns) the service reads or publishes
	// besides the source's own: results, summaries, dead letters.
	Served []string
	// Setting names where Allowed is set, as the refusal tells the
	// publisher (e.g. "--reply-subjects").
	Setting string
}

// check returns why reply may not be a batch's reply subject, or nil
// when it may (or is empty: no reply). own are the subjects the source
// reads (its input, the micro endpoint).
func (p *ReplyPolicy) check(reply string, own ...string) *stages.BatchError {
	if reply == "" {
		return nil
	}
	refuse := func(format string, args ...any) *stages.BatchError {
		return &stages.BatchError{Kind: wire.ErrInvalidBatch, Message: fmt.Sprintf(format, args...)}
	}
	if !plainSubject(reply) {
		return refuse("the reply subject %q is not one a reply can be published to (a wildcard, white space or an empty token)", cut(reply))
	}
	for _, s := range own {
		if SubjectsCollide(reply, s) {
			return refuse("the reply subject %q is one the service reads batches from (%q): the reply would come back as a batch", reply, s)
		}
	}
	served := []string{microAPI}
	if p != nil {
		served = append(served, p.Served...)
	}
	for _, s := range served {
		if reply == s {
			return refuse("the reply subject %q is a subject the service publishes or serves: a reply never goes there", reply)
		}
		if SubjectsCollide(reply, s) {
			return refuse("the reply subject %q is in %q, subjects the service publishes or serves: a reply never goes there", reply, s)
		}
	}
	allowed, setting := []string{DefaultReplySubjects}, "the service's reply subjects"
	if p != nil {
		allowed = p.Allowed
		if p.Setting != "" {
			setting = p.Setting
		}
	}
	first, _, _ := strings.Cut(reply, ".")
	api := strings.HasPrefix(first, "$")
	for _, pattern := range allowed {
		if api && !strings.HasPrefix(pattern, first+".") {
			continue // NATS's own APIs only where named outright
		}
		if SubjectsCollide(pattern, reply) {
			return nil
		}
	}
	if api {
		return refuse("the reply subject %q is in NATS's own %s API: only an entry of %s that begins with %s allows it (now %s)",
			reply, first, setting, first, strings.Join(allowed, ","))
	}
	return refuse("the reply subject %q is not among the allowed reply subjects (%s): add it, or a pattern that matches it, to %s",
		reply, strings.Join(allowed, ","), setting)
}

// cut shortens a subject for a message.
func cut(s string) string {
	if len(s) > 128 {
		return s[:128] + "..."
	}
	return s
}
