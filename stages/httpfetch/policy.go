package httpfetch

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"code.dny.dev/ssrf"
)

// ErrBlocked is wrapped by every refusal of the network policy.
var ErrBlocked = errors.New("destination refused by the network policy")

// Ranges that AllowPrivate opens: loopback and the private ranges, never
// link-local (cloud metadata lives at 169.254.169.254).
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
}

// Policy decides, at dial time and on the resolved address, where the
// fetcher may connect. The zero Policy refuses loopback, private,
// link-local, CGNAT, ULA, multicast and the other special-purpose ranges
// (code.dny.dev/ssrf's lists) and allows every other address on any port.
// Checking at dial time covers redirects and DNS rebinding.
type Policy struct {
	AllowPrivate bool           // open loopback and private ranges (not link-local)
	AllowNets    []netip.Prefix // open these ranges as well
	// Advice, if set, words the end of a refusal's message: what would
	// open the refused address, in the terms of whoever configures the
	// service (the CLI names its flags). private says whether AllowPrivate
	// would open it; when false only AllowNets would. nil: neutral words.
	Advice func(private bool) string
}

// advice is the end of a refusal's message for addr.
func (p Policy) advice(addr netip.Addr) string {
	private := !p.AllowPrivate && inAny(addr, privateRanges)
	if p.Advice != nil {
		return p.Advice(private)
	}
	if private {
		return "allowing private destinations, or this address's range, would permit it"
	}
	return "only allowing this address's range would permit it"
}

func inAny(addr netip.Addr, prefixes []netip.Prefix) bool {
	for _, prefix := range prefixes {
		if prefix.Contains(addr) {
			return true
		}
	}
	return false
}

// Control returns a net.Dialer Control function enforcing the policy. It
// runs after the name is resolved and before the connection is made, for
// every dial: the first request, each redirect and each retry. IPv4-mapped
// IPv6 addresses (and AllowNets prefixes) are judged as the IPv4 they
// carry. Ports are not restricted: the policy is about addresses.
func (p Policy) Control() func(network, address string, _ syscall.RawConn) error {
	var v4, v6 []netip.Prefix
	allowed := p.AllowNets
	if p.AllowPrivate {
		allowed = append(append([]netip.Prefix(nil), privateRanges...), p.AllowNets...)
	}
	for _, prefix := range allowed {
		if prefix.Addr().Is4In6() && prefix.Bits() >= 96 { // addresses are judged unmapped, so prefixes are too
			prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()-96).Masked()
		}
		if prefix.Addr().Is4() {
			v4 = append(v4, prefix)
		} else {
			v6 = append(v6, prefix)
		}
	}
	guard := ssrf.New(ssrf.WithAnyPort(), ssrf.WithAllowedV4Prefixes(v4...), ssrf.WithAllowedV6Prefixes(v6...))
	return func(network, address string, _ syscall.RawConn) error {
		addrPort, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBlocked, err)
		}
		addrPort = netip.AddrPortFrom(addrPort.Addr().Unmap(), addrPort.Port())
		if network != "tcp4" && network != "tcp6" {
			return fmt.Errorf("%w: network %s", ErrBlocked, network)
		}
		if err := guard.SafeAddrPort(addrPort); err != nil {
			return fmt.Errorf("%w: %v; %s", ErrBlocked, err, p.advice(addrPort.Addr()))
		}
		return nil
	}
}
