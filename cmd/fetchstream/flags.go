package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
)

// natsFlags are the connection flags shared by the commands that talk to
// NATS, named as the nats CLI names them, with the same NATS_* defaults.
type natsFlags struct {
	url                    string
	user, password, token  string
	creds, nkey            string
	tlsCert, tlsKey, tlsCA string
	tlsFirst               bool
}

func (n *natsFlags) register(fs *flag.FlagSet, embeddedHint string) {
	fs.StringVar(&n.url, "nats-url", os.Getenv("NATS_URL"), "NATS server URL(s), comma-separated (env NATS_URL)"+embeddedHint)
	fs.StringVar(&n.user, "user", os.Getenv("NATS_USER"), "NATS user name (env NATS_USER)")
	fs.StringVar(&n.password, "password", os.Getenv("NATS_PASSWORD"), "NATS password (env NATS_PASSWORD)")
	fs.StringVar(&n.token, "token", os.Getenv("NATS_TOKEN"), "NATS token (env NATS_TOKEN)")
	fs.StringVar(&n.creds, "creds", os.Getenv("NATS_CREDS"), "NATS user credentials file (env NATS_CREDS)")
	fs.StringVar(&n.nkey, "nkey", os.Getenv("NATS_NKEY"), "NATS user NKEY seed file (env NATS_NKEY)")
	fs.StringVar(&n.tlsCert, "tlscert", os.Getenv("NATS_CERT"), "TLS client certificate file (env NATS_CERT)")
	fs.StringVar(&n.tlsKey, "tlskey", os.Getenv("NATS_KEY"), "TLS client private key file (env NATS_KEY)")
	fs.StringVar(&n.tlsCA, "tlsca", os.Getenv("NATS_CA"), "TLS certificate authority file (env NATS_CA)")
	fs.BoolVar(&n.tlsFirst, "tlsfirst", false, "do the TLS handshake before the NATS protocol starts")
}

// options turns the auth and TLS flags into nats.Options.
func (n *natsFlags) options() ([]nats.Option, error) {
	var opts []nats.Option
	if n.user != "" || n.password != "" {
		opts = append(opts, nats.UserInfo(n.user, n.password))
	}
	if n.token != "" {
		opts = append(opts, nats.Token(n.token))
	}
	if n.creds != "" {
		opts = append(opts, nats.UserCredentials(n.creds))
	}
	if n.nkey != "" {
		opt, err := nats.NkeyOptionFromSeed(n.nkey)
		if err != nil {
			return nil, fmt.Errorf("--nkey: %w", err)
		}
		opts = append(opts, opt)
	}
	if (n.tlsCert == "") != (n.tlsKey == "") {
		return nil, errors.New("--tlscert and --tlskey go together")
	}
	if n.tlsCert != "" {
		opts = append(opts, nats.ClientCert(n.tlsCert, n.tlsKey))
	}
	if n.tlsCA != "" {
		opts = append(opts, nats.RootCAs(n.tlsCA))
	}
	if n.tlsFirst {
		opts = append(opts, nats.TLSHandshakeFirst())
	}
	return opts, nil
}

// connect joins the server at n.url (or fallback when empty) as name.
func (n *natsFlags) connect(fallback, name string, extra ...nats.Option) (*nats.Conn, error) {
	url := n.url
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

// subjectFlags are the wire subjects.
type subjectFlags struct {
	in, out, batches string
}

func (s *subjectFlags) register(fs *flag.FlagSet) {
	d := service.Defaults().Subjects
	fs.StringVar(&s.in, "in", d.In, "subject batches arrive on")
	fs.StringVar(&s.out, "out", d.Out, "subject results are published on")
	fs.StringVar(&s.batches, "batches-subject", d.Batches, "subject batch summaries are published on")
}
