package main

import (
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
)

// schedule add, ls and rm as a user types them, against `run --jetstream
// --validators`: the schedule's runs reach the target (conditional after
// the first), ls shows it with its spec, next run and batch, rm stops it.
// Refused: a flood (--every 1ns), both or neither of --every and --cron;
// in core mode add says why and what to run instead.
func TestScheduleCommands(t *testing.T) {
	ns, _ := natstest.Start(t)
	url := ns.ClientURL()
	p := fetchtest.NewPolled(t)
	startService(t, url, "--jetstream", "--validators", "VALIDATORS")
	cmd := func(args ...string) (int, string) {
		var stdout, stderr syncBuffer
		code := Main(t.Context(), append([]string{"schedule"}, args...), &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	if code, out := cmd("add", "poll1", "--nats-url", url, "--every", "1s", p.URL("/etag")); code != exitOK || !strings.Contains(out, "added schedule poll1") {
		t.Fatalf("add: exit %d:\n%s", code, out)
	}
	code, out := cmd("ls", "--nats-url", url)
	if code != exitOK || !strings.Contains(out, "poll1") || !strings.Contains(out, "@every 1s") || !strings.Contains(out, "1 URL: "+p.URL("/etag")) {
		t.Errorf("ls: exit %d:\n%s", code, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(p.Requests("/etag")) < 3 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	reqs := p.Requests("/etag")
	if len(reqs) < 3 {
		t.Fatalf("%d runs reached the target in 15s; want 3 or more", len(reqs))
	}
	if last := reqs[len(reqs)-1]; last.IfNoneMatch != `"v1"` {
		t.Fatalf("the last of %d runs had If-None-Match %q; want it conditional", len(reqs), last.IfNoneMatch)
	}
	if code, out := cmd("rm", "--nats-url", url, "poll1"); code != exitOK || !strings.Contains(out, "removed schedule poll1") {
		t.Errorf("rm: exit %d:\n%s", code, out)
	}
	if code, out := cmd("ls", "--nats-url", url); code != exitOK || !strings.Contains(out, "no schedules") {
		t.Errorf("ls after rm: exit %d:\n%s", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "flood", "--nats-url", url, "--every", "1ns", p.URL("/static")}, "more often than once every 1s"},
		{[]string{"add", "both", "--nats-url", url, "--every", "1m", "--cron", "@hourly", p.URL("/static")}, "give one of --every"},
		{[]string{"add", "neither", "--nats-url", url, p.URL("/static")}, "give one of --every"},
		{[]string{"add", "core", "--nats-url", url, "--in", "core.urls", "--every", "1m", p.URL("/static")}, "--jetstream"},
		{[]string{"rm", "--nats-url", url, "nothing"}, "no such schedule"},
	} {
		if code, out := cmd(tc.args...); code != exitError || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want %d saying %q:\n%s", tc.args, code, exitError, tc.want, out)
		}
	}
}
