package main

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

// --reply-subjects replaces the default on its first use and adds on the
// next ones; a bad pattern is refused at start, naming the flag.
func TestReplySubjectsFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"_INBOX.>"}},
		{[]string{"--reply-subjects", "replies.>"}, []string{"replies.>"}},
		{[]string{"--reply-subjects", "_INBOX.>, replies.*", "--reply-subjects", "$KV.teamcfg.>"}, []string{"_INBOX.>", "replies.*", "$KV.teamcfg.>"}},
		{[]string{"--reply-subjects", ""}, nil},
	} {
		var flags runFlags
		parseRunFlags(t, &flags, tc.args...)
		if got := flags.cfg.Subjects.Replies; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: reply subjects %q, want %q", tc.args, got, tc.want)
		}
	}
	var stderr syncBuffer
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	code := Main(ctx, []string{"run", "--nats-url", "nats://127.0.0.1:1", "--reply-subjects", "replies..x"}, &syncBuffer{}, &stderr)
	if code != exitError || !strings.Contains(stderr.String(), `--reply-subjects "replies..x"`) {
		t.Errorf("a bad reply pattern: exit %d, stderr %q; want exit 1 naming --reply-subjects", code, stderr.String())
	}
}
