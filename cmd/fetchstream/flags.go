package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
)

// subjectFlags are the wire subjects, as watch takes them.
type subjectFlags struct {
	in, out, batches string
}

func (s *subjectFlags) register(fs *flag.FlagSet) {
	d := service.Defaults().Subjects
	fs.StringVar(&s.in, "in", d.In, "subject batches arrive on")
	fs.StringVar(&s.out, "out", d.Out, "subject results are published on")
	fs.StringVar(&s.batches, "batches-subject", d.Batches, "subject batch summaries are published on")
}

// natsFlags are the connection flags of a command that talks to NATS,
// named as the nats CLI names them (--nats-url, --user, --creds,
// --tlscert, ...) with the same NATS_* variables as defaults.
type natsFlags struct {
	URL                    string // comma-separated server URLs; empty: the command's default
	User, Password, Token  string
	Creds, NKey            string // files
	TLSCert, TLSKey, TLSCA string // files
	TLSFirst               bool
}

// register binds the flags to fs, each defaulting to its NATS_*
// variable; embeddedHint ends --nats-url's usage (what an empty URL
// means for this command).
func (n *natsFlags) register(fs *flag.FlagSet, embeddedHint string) {
	fs.StringVar(&n.URL, "nats-url", os.Getenv("NATS_URL"), "NATS server URL(s), comma-separated (env NATS_URL)"+embeddedHint)
	fs.StringVar(&n.User, "user", os.Getenv("NATS_USER"), "NATS user name (env NATS_USER)")
	fs.StringVar(&n.Password, "password", os.Getenv("NATS_PASSWORD"), "NATS password (env NATS_PASSWORD)")
	fs.StringVar(&n.Token, "token", os.Getenv("NATS_TOKEN"), "NATS token (env NATS_TOKEN)")
	fs.StringVar(&n.Creds, "creds", os.Getenv("NATS_CREDS"), "NATS user credentials file (env NATS_CREDS)")
	fs.StringVar(&n.NKey, "nkey", os.Getenv("NATS_NKEY"), "NATS user NKEY seed file (env NATS_NKEY)")
	fs.StringVar(&n.TLSCert, "tlscert", os.Getenv("NATS_CERT"), "TLS client certificate file (env NATS_CERT)")
	fs.StringVar(&n.TLSKey, "tlskey", os.Getenv("NATS_KEY"), "TLS client private key file (env NATS_KEY)")
	fs.StringVar(&n.TLSCA, "tlsca", os.Getenv("NATS_CA"), "TLS certificate authority file (env NATS_CA)")
	fs.BoolVar(&n.TLSFirst, "tlsfirst", false, "do the TLS handshake before the NATS protocol starts")
}

// options turns the auth and TLS flags into nats.Options; its errors name
// the flag (--nkey, --tlscert and --tlskey).
func (n *natsFlags) options() ([]nats.Option, error) {
	var opts []nats.Option
	if n.User != "" || n.Password != "" {
		opts = append(opts, nats.UserInfo(n.User, n.Password))
	}
	if n.Token != "" {
		opts = append(opts, nats.Token(n.Token))
	}
	if n.Creds != "" {
		opts = append(opts, nats.UserCredentials(n.Creds))
	}
	if n.NKey != "" {
		opt, err := nats.NkeyOptionFromSeed(n.NKey)
		if err != nil {
			return nil, fmt.Errorf("--nkey: %w", err)
		}
		opts = append(opts, opt)
	}
	if (n.TLSCert == "") != (n.TLSKey == "") {
		return nil, errors.New("--tlscert and --tlskey go together")
	}
	if n.TLSCert != "" {
		opts = append(opts, nats.ClientCert(n.TLSCert, n.TLSKey))
	}
	if n.TLSCA != "" {
		opts = append(opts, nats.RootCAs(n.TLSCA))
	}
	if n.TLSFirst {
		opts = append(opts, nats.TLSHandshakeFirst())
	}
	return opts, nil
}

// connect joins the server at n.URL (or fallback when empty) as the
// client name, with extra options after the flags' own; its error names
// the servers without their passwords.
func (n *natsFlags) connect(fallback, name string, extra ...nats.Option) (*nats.Conn, error) {
	url := n.URL
	if url == "" {
		url = fallback
	}
	opts, err := n.options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, append(append(opts, nats.Name(name)), extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", service.RedactURLs(url), err)
	}
	return nc, nil
}

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
	return (*settings.NameList)(r.list).Set(value)
}
