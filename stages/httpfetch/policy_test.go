package httpfetch

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

// The dial-time check alone, on resolved addresses, for each policy. No
// connection is made: Control is called as the dialer calls it.
func TestPolicyControl(t *testing.T) {
	private := Policy{AllowPrivate: true}
	mapped := Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}}
	cases := []struct {
		name    string
		policy  Policy
		addr    string
		allowed bool
	}{
		{"loopback", Policy{}, "127.0.0.1", false},
		{"loopback, top of 127/8", Policy{}, "127.255.255.254", false},
		{"IPv6 loopback", Policy{}, "::1", false},
		{"IPv4-mapped loopback", Policy{}, "::ffff:127.0.0.1", false},
		{"unspecified IPv4 (reaches this host)", Policy{}, "0.0.0.0", false},
		{"unspecified IPv6", Policy{}, "::", false},
		{"private 10/8", Policy{}, "10.1.2.3", false},
		{"private 172.16/12", Policy{}, "172.31.255.1", false},
		{"private 192.168/16", Policy{}, "192.168.1.1", false},
		{"IPv4-mapped private", Policy{}, "::ffff:192.168.1.1", false},
		{"metadata", Policy{}, "169.254.169.254", false},
		{"IPv4-mapped metadata", Policy{}, "::ffff:169.254.169.254", false},
		{"CGNAT", Policy{}, "100.64.0.1", false},
		{"IPv6 link-local", Policy{}, "fe80::1", false},
		{"IPv6 ULA", Policy{}, "fd00::1", false},
		{"NAT64 of loopback", Policy{}, "64:ff9b::7f00:1", false},
		{"6to4 of loopback", Policy{}, "2002:7f00:1::1", false},
		{"multicast", Policy{}, "224.0.0.1", false},
		{"broadcast", Policy{}, "255.255.255.255", false},
		{"documentation range", Policy{}, "192.0.2.1", false},
		{"public IPv4", Policy{}, "93.184.215.14", true},
		{"public IPv6", Policy{}, "2606:4700::1111", true},
		{"IPv4-mapped public", Policy{}, "::ffff:93.184.215.14", true},

		{"allow-private: loopback", private, "127.0.0.1", true},
		{"allow-private: IPv6 loopback", private, "::1", true},
		{"allow-private: IPv4-mapped loopback", private, "::ffff:127.0.0.1", true},
		{"allow-private: 10/8", private, "10.1.2.3", true},
		{"allow-private: ULA", private, "fd12::1", true},
		{"allow-private: metadata still refused", private, "169.254.169.254", false},
		{"allow-private: IPv4-mapped metadata still refused", private, "::ffff:169.254.169.254", false},
		{"allow-private: IPv6 link-local still refused", private, "fe80::1", false},
		{"allow-private: CGNAT still refused", private, "100.64.0.1", false},
		{"allow-private: unspecified still refused", private, "0.0.0.0", false},

		{"allow-net 127.0.0.1/32: that address", loopbackOnly, "127.0.0.1", true},
		{"allow-net 127.0.0.1/32: mapped form", loopbackOnly, "::ffff:127.0.0.1", true},
		{"allow-net 127.0.0.1/32: a neighbour", loopbackOnly, "127.0.0.2", false},
		{"allow-net 127.0.0.1/32: metadata", loopbackOnly, "169.254.169.254", false},
		{"allow-net in mapped form opens the IPv4 range", mapped, "10.9.8.7", true},
		{"allow-net in mapped form, outside", mapped, "192.168.0.1", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			control := c.policy.Control()
			addr := netip.MustParseAddr(c.addr)
			network := "tcp6"
			if addr.Unmap().Is4() {
				network = "tcp4"
			}
			// Ports do not matter: the same verdict on every port.
			for _, port := range []uint16{1, 22, 80, 443, 6379, 8080, 65535} {
				err := control(network, netip.AddrPortFrom(addr, port).String(), nil)
				if c.allowed && err != nil {
					t.Errorf("%s port %d refused: %v", c.addr, port, err)
				}
				if !c.allowed && !errors.Is(err, ErrBlocked) {
					t.Errorf("%s port %d: got %v, want ErrBlocked", c.addr, port, err)
				}
			}
		})
	}
}

func TestPolicyControlRefusesOtherNetworksAndSaysHowToOpen(t *testing.T) {
	if err := (Policy{}).Control()("udp4", "93.184.215.14:53", nil); !errors.Is(err, ErrBlocked) {
		t.Errorf("udp dial: got %v, want ErrBlocked", err)
	}
	// Advice is told whether AllowPrivate would open the address: only for
	// loopback and the private ranges, never for link-local, CGNAT, this
	// host (0.0.0.0) or multicast, and never once AllowPrivate is on.
	advice := func(private bool) string {
		if private {
			return "OPEN-BY-PRIVATE"
		}
		return "OPEN-BY-NET-ONLY"
	}
	cases := []struct {
		allowPrivate bool
		addr         string
		want         string
	}{
		{false, "10.0.0.1:80", "OPEN-BY-PRIVATE"},
		{false, "127.0.0.1:80", "OPEN-BY-PRIVATE"},
		{false, "[fd00::1]:80", "OPEN-BY-PRIVATE"},
		{false, "169.254.169.254:80", "OPEN-BY-NET-ONLY"},
		{false, "100.64.0.1:80", "OPEN-BY-NET-ONLY"},
		{false, "0.0.0.0:80", "OPEN-BY-NET-ONLY"},
		{false, "224.0.0.1:80", "OPEN-BY-NET-ONLY"},
		{true, "169.254.169.254:80", "OPEN-BY-NET-ONLY"},
	}
	for _, c := range cases {
		network := "tcp4"
		if strings.HasPrefix(c.addr, "[") {
			network = "tcp6"
		}
		err := Policy{AllowPrivate: c.allowPrivate, Advice: advice}.Control()(network, c.addr, nil)
		if err == nil || !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("refusal of %s (allow private %v): %v, want it to end with %s", c.addr, c.allowPrivate, err, c.want)
		}
	}
	// Without Advice the words name no flag of any program.
	err := (Policy{}).Control()("tcp4", "169.254.169.254:80", nil)
	if err == nil || strings.Contains(err.Error(), "--") || !strings.Contains(err.Error(), "only allowing") {
		t.Errorf("neutral refusal %v", err)
	}
}

func TestParseTarget(t *testing.T) {
	cases := []struct {
		url  string
		ok   bool
		want string // in the error
	}{
		{"http://example.com/", true, ""},
		{"https://example.com:8443/a?b=c", true, ""},
		{"HTTP://EXAMPLE.COM/", true, ""},
		{"http://[::1]:8080/", true, ""},
		{"http://bücher.example/", true, ""},
		{"file:///etc/passwd", false, "scheme"},
		{"gopher://example.com:70/1", false, "scheme"},
		{"ftp://example.com/file", false, "scheme"},
		{"data:text/plain,hi", false, "scheme"},
		{"javascript:alert(1)", false, "scheme"},
		{"ws://example.com/", false, "scheme"},
		{"//example.com/path", false, "scheme"},
		{"/relative/path", false, "scheme"},
		{"", false, "scheme"},
		{"not a url", false, "scheme"},
		{"http:///path", false, "no host"},
		{"http://:80/", false, "no host"},
		{"http:/example.com", false, "no host"},
		{"https://user:pass@/", false, "no host"},
		{"http://example.com:0/", false, "port 0"},
		{"http://example.com:65536/", false, "port 65536"},
		{"http://example.com:99999999999999999999/", false, "port"},
		{"http://[::1/", false, "invalid URL"},
		{"http://exa mple.com/", false, "invalid"},
		{"http://example.com/a b", false, "space or control character (U+0020) at byte 20"},
		{"http://example.com/?q=a b", false, "U+0020"},
		{"http://example.com/a\tb", false, "U+0009"},
		{"http://example.com/a\u0085b", false, "U+0085"}, // a C1 control
		{"http://example.com/a\u00a0b", false, "U+00A0"}, // no-break space
		{"http://example.com/a\u2028b", false, "U+2028"},
		{" http://example.com/", false, "U+0020) at byte 0"}, // the decoder trims; ParseTarget does not
		{"http://example.com/a%20b", true, ""},
		{"http://example.com/" + strings.Repeat("a", MaxURLLength), false, "longer than " + strconv.Itoa(MaxURLLength)},
	}
	for _, c := range cases {
		u, err := ParseTarget(c.url)
		switch {
		case c.ok && err != nil:
			t.Errorf("ParseTarget(%.60q): %v", c.url, err)
		case !c.ok && !errors.Is(err, ErrInvalidURL):
			t.Errorf("ParseTarget(%.60q) = %v, %v; want ErrInvalidURL", c.url, u, err)
		case !c.ok && !strings.Contains(err.Error(), c.want):
			t.Errorf("ParseTarget(%.60q) error %q, want it to mention %q", c.url, err, c.want)
		case !c.ok && len(err.Error()) > 200:
			t.Errorf("ParseTarget(%.60q) error is %d bytes: it should not echo the URL", c.url, len(err.Error()))
		}
	}
}

// A URL with a raw space or control character inside is invalid_url and
// never sent (url.Parse alone would send "/a b" as "/a%20b").
func TestFetchRefusesRawSpaceInURL(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	f := newTestFetcher(t, Config{Policy: loopbackOnly})
	for _, u := range []string{srv.URL + "/a b", srv.URL + "/?q=a b", srv.URL + "/a\u0085b"} {
		r, _ := fetch(f, u, 5*time.Second)
		if r.Error != wire.ErrInvalidURL || r.URL != u {
			t.Errorf("%q: got %q (%s), url %q; want invalid_url", u, r.Error, r.Message, r.URL)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests, want none", n)
	}
}
