package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/peterbourgon/ff/v3"
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

// natsFlags are the connection flags shared by the commands that talk to NATS.
type natsFlags struct {
	url string
}

func (n *natsFlags) register(fs *flag.FlagSet, embeddedHint string) {
	def := os.Getenv("NATS_URL")
	fs.StringVar(&n.url, "nats-url", def, "NATS server URL(s), comma-separated (env NATS_URL)"+embeddedHint)
}

// subjectFlags are the wire subjects.
type subjectFlags struct {
	in, out, batches string
}

func (s *subjectFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.in, "in", "fetch.urls", "subject batches arrive on")
	fs.StringVar(&s.out, "out", "fetch.results", "subject results are published on")
	fs.StringVar(&s.batches, "batches-subject", "fetch.batches", "subject batch summaries are published on")
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
