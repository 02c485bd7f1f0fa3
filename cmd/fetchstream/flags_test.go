package main

import (
	"context"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A failed connect names the server without its password.
func TestConnectErrorHidesPassword(t *testing.T) {
	flags := natsFlags{URL: "nats://alice:s3cret@127.0.0.1:1,nats://127.0.0.1:2"}
	_, err := flags.connect("", "test")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "alice") {
		t.Errorf("got %v, want an error naming the servers without the password", err)
	}
}

// The flags default to the NATS_* variables; a certificate without its
// key, and an NKEY seed file that cannot be read, are errors naming the
// flag.
func TestFlags(t *testing.T) {
	t.Setenv("NATS_URL", "nats://env:4222")
	t.Setenv("NATS_USER", "env-user")
	var n natsFlags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n.register(fs, "")
	if err := fs.Parse([]string{"--password", "p", "--tlsfirst"}); err != nil {
		t.Fatal(err)
	}
	if n.URL != "nats://env:4222" || n.User != "env-user" || n.Password != "p" || !n.TLSFirst {
		t.Errorf("flags %+v", n)
	}
	if opts, err := n.options(); err != nil || len(opts) != 2 {
		t.Errorf("options %d, %v; want user info and TLS first", len(opts), err)
	}
	for _, tc := range []struct {
		flags natsFlags
		want  string
	}{
		{natsFlags{TLSCert: "c.pem"}, "--tlscert and --tlskey go together"},
		{natsFlags{NKey: "/nonexistent/seed.nk"}, "--nkey"},
	} {
		if _, err := tc.flags.options(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.flags, err, tc.want)
		}
	}
}

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
