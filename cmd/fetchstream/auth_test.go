package main

import (
	"context"
	"encoding/json"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// The service and the client commands authenticate as the nats CLI does.
func TestAuthFlags(t *testing.T) {
	target := fetchtest.NewTarget(t)
	cases := []struct {
		name   string
		server *server.Options
		good   []string
		bad    []string
	}{
		{"user and password", &server.Options{Username: "fetch", Password: "s3cret"},
			[]string{"--user", "fetch", "--password", "s3cret"}, []string{"--user", "fetch", "--password", "wrong"}},
		{"token", &server.Options{Authorization: "tok3n"}, []string{"--token", "tok3n"}, []string{"--token", "nope"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := natstest.StartWithOptions(t, c.server)
			var stderr syncBuffer
			code := Main(context.Background(), append([]string{"run", "--nats-url", url}, c.bad...), &syncBuffer{}, &stderr)
			if code != exitError || !strings.Contains(strings.ToLower(stderr.String()), "authorization") {
				t.Errorf("bad credentials: exit %d, stderr %q; want exit 1 and an authorization error", code, stderr.String())
			}
			startService(t, url, c.good...)
			opts := natsFlags{URL: url}
			fs := flagSetFor(&opts)
			if err := fs.Parse(c.good); err != nil {
				t.Fatal(err)
			}
			nc, err := opts.connect("", "test")
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			data, _ := json.Marshal([]string{target.URL("/text")})
			reply, err := nc.Request(wire.DefaultInSubject, data, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var got []wire.Result
			if json.Unmarshal(reply.Data, &got) != nil || len(got) != 1 || !got[0].OK() {
				t.Errorf("reply %s", reply.Data)
			}
		})
	}
}

// flagSetFor registers n's flags on a fresh flag set, as the commands do.
func flagSetFor(n *natsFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	url := n.URL
	n.register(fs, "")
	n.URL = url
	return fs
}

// health connects with every connection flag, as run does, so the
// image's HEALTHCHECK works against a server with auth; it never prints
// the URL's password.
func TestHealthUsesConnectionFlags(t *testing.T) {
	url := natstest.StartWithOptions(t, &server.Options{Username: "fetch", Password: "s3cret"})
	var stdout, stderr syncBuffer
	if code := Main(context.Background(), []string{"health", "--nats-url", url, "--user", "fetch", "--password", "s3cret"}, &stdout, &stderr); code != exitOK {
		t.Errorf("health with the credentials: exit %d, stderr %q", code, stderr.String())
	}
	withPassword := strings.Replace(url, "nats://", "nats://fetch:wr0ng@", 1)
	stderr = syncBuffer{}
	code := Main(context.Background(), []string{"health", "--nats-url", withPassword}, &syncBuffer{}, &stderr)
	if code != exitError || strings.Contains(stderr.String(), "wr0ng") || !strings.Contains(strings.ToLower(stderr.String()), "authorization") {
		t.Errorf("health with a wrong password in the URL: exit %d, stderr %q; want exit 1, an authorization error, no password", code, stderr.String())
	}
}
