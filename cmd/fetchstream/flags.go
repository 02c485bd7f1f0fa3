package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/peterbourgon/ff/v3"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
)

// parseOptions are the ff options every command shares: flags win, then
// FETCHSTREAM_<FLAG> environment variables, then the file named by
// --config (one "flag value" per line).
func parseOptions() []ff.Option {
	return []ff.Option{
		ff.WithEnvVarPrefix("FETCHSTREAM"),
		ff.WithEnvVarSplit(","),
		ff.WithConfigFileFlag("config"),
		ff.WithConfigFileParser(ff.PlainParser),
	}
}

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

// prefixList is a repeatable (or comma-separated) CIDR flag.
type prefixList []netip.Prefix

func (p *prefixList) String() string {
	parts := make([]string, len(*p))
	for i, prefix := range *p {
		parts[i] = prefix.String()
	}
	return strings.Join(parts, ",")
}

func (p *prefixList) Set(value string) error {
	for part := range strings.SplitSeq(value, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(part)
		if err != nil {
			addr, addrErr := netip.ParseAddr(part)
			if addrErr != nil {
				return fmt.Errorf("%q is not a CIDR range like 10.0.0.0/8 or an address", part)
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		*p = append(*p, prefix.Masked())
	}
	return nil
}

// byteSize is a flag for sizes such as 256KiB, 1MiB or 65536.
type byteSize int64

func (b *byteSize) String() string { return fmt.Sprint(int64(*b)) }

func (b *byteSize) Set(value string) error {
	units := []struct {
		suffix string
		factor int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"B", 1}}
	number, factor := strings.TrimSpace(value), int64(1)
	for _, u := range units {
		if trimmed, ok := strings.CutSuffix(number, u.suffix); ok {
			number, factor = strings.TrimSpace(trimmed), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(number, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size like 262144, 256KiB or 1MiB", value)
	}
	*b = byteSize(n * factor)
	return nil
}

// nameList is a repeatable (or comma-separated) list of names.
type nameList []string

func (n *nameList) String() string { return strings.Join(*n, ",") }

func (n *nameList) Set(value string) error {
	for part := range strings.SplitSeq(value, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*n = append(*n, part)
		}
	}
	return nil
}
