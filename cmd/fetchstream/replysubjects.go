package main

import (
	"strings"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/flagvalue"
)

// replySubjects is --reply-subjects: a list that its first use replaces
// (the default, _INBOX.>, is not kept unless given again) and later uses
// add to, repeatable or comma-separated.
type replySubjects struct {
	list *[]string
	set  bool
}

func (r *replySubjects) String() string {
	if r.list == nil {
		return ""
	}
	return strings.Join(*r.list, ",")
}

// Set takes the subjects of value, blanks trimmed, empty ones skipped.
func (r *replySubjects) Set(value string) error {
	if !r.set {
		*r.list, r.set = nil, true
	}
	return (*flagvalue.NameList)(r.list).Set(value)
}
