package natsflags

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// A failed connect names the server without its password.
func TestConnectErrorHidesPassword(t *testing.T) {
	flags := Flags{URL: "nats://alice:s3cret@127.0.0.1:1,nats://127.0.0.1:2"}
	_, err := flags.Connect("", "test")
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
	var n Flags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n.Register(fs, "")
	if err := fs.Parse([]string{"--password", "p", "--tlsfirst"}); err != nil {
		t.Fatal(err)
	}
	if n.URL != "nats://env:4222" || n.User != "env-user" || n.Password != "p" || !n.TLSFirst {
		t.Errorf("flags %+v", n)
	}
	if opts, err := n.Options(); err != nil || len(opts) != 2 {
		t.Errorf("options %d, %v; want user info and TLS first", len(opts), err)
	}
	for _, tc := range []struct {
		flags Flags
		want  string
	}{
		{Flags{TLSCert: "c.pem"}, "--tlscert and --tlskey go together"},
		{Flags{NKey: "/nonexistent/seed.nk"}, "--nkey"},
	} {
		if _, err := tc.flags.Options(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.flags, err, tc.want)
		}
	}
}
