package httpfetch

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// testNames are the host names the tests' DNS server answers.
var testNames = map[string][]netip.Addr{
	"loopback.fetchstream.test": {netip.MustParseAddr("127.0.0.1")},
	"mapped.fetchstream.test":   {netip.MustParseAddr("::ffff:127.0.0.1")},
	"private.fetchstream.test":  {netip.MustParseAddr("10.0.0.1")},
	"metadata.fetchstream.test": {netip.MustParseAddr("169.254.169.254")},
	// One refused and one allowed address: the refused one is skipped.
	"mixed.fetchstream.test": {netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("127.0.0.1")},
}

// Every spelling of this host reaches a live server on 127.0.0.1 if the
// policy lets it through; under the default policy none does.
func TestPolicyRefusesLoopbackInEverySpelling(t *testing.T) {
	counter := fetchtest.NewCounter(t, "127.0.0.1:0")
	p := ":" + portOf(counter.Listener)
	f := newTestFetcher(t, Config{Resolver: fetchtest.NewResolver(t, testNames)})
	cases := []struct {
		url  string
		kind wire.ErrorKind // "" accepts blocked or dns_error: either way, not reached
	}{
		{"http://127.0.0.1" + p + "/", wire.ErrBlocked},
		{"http://localhost" + p + "/", wire.ErrBlocked},
		{"http://LocalHost." + p + "/", ""}, // a trailing dot skips /etc/hosts
		{"http://[::1]" + p + "/", wire.ErrBlocked},
		{"http://[::ffff:127.0.0.1]" + p + "/", wire.ErrBlocked},
		{"http://[::ffff:7f00:1]" + p + "/", wire.ErrBlocked},
		{"http://0.0.0.0" + p + "/", wire.ErrBlocked},
		{"http://[::]" + p + "/", wire.ErrBlocked},
		{"http://loopback.fetchstream.test" + p + "/", wire.ErrBlocked},
		{"http://mapped.fetchstream.test" + p + "/", wire.ErrBlocked},
		{"http://0" + p + "/", ""},
		{"http://127.1" + p + "/", ""},
		{"http://2130706433" + p + "/", ""},
		{"http://0x7f000001" + p + "/", ""},
		{"http://0177.0.0.1" + p + "/", ""},
	}
	for _, c := range cases {
		r, _ := fetch(f, c.url, 2*time.Second)
		refused := r.Error == wire.ErrBlocked || (c.kind == "" && r.Error == wire.ErrDNS)
		if !refused || (c.kind != "" && r.Error != c.kind) {
			t.Errorf("%s: got %s (%s), want it refused", c.url, r.Error, r.Message)
		}
		if r.Error == wire.ErrBlocked && r.Attempts != 1 {
			t.Errorf("%s: attempts %d, want 1", c.url, r.Attempts)
		}
	}
	if hits := counter.Hits(); hits != 0 {
		t.Fatalf("the loopback server was reached %d times", hits)
	}
	// The control: with loopback allowed, the same server is reachable.
	open := newTestFetcher(t, Config{Policy: Policy{AllowPrivate: true}})
	if r, _ := fetch(open, "http://127.0.0.1"+p+"/", 2*time.Second); !r.OK() || counter.Hits() != 1 {
		t.Fatalf("with --allow-private: %+v, hits %d; the test server is not reachable", r, counter.Hits())
	}
}

// A host name is judged by the addresses it resolves to, at dial time.
func TestPolicyJudgesResolvedAddresses(t *testing.T) {
	target := fetchtest.NewHostile(t)
	p := ":" + portOf(target.Listener)
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Resolver: fetchtest.NewResolver(t, testNames)})
	cases := []struct {
		host string
		kind wire.ErrorKind
	}{
		{"private.fetchstream.test", wire.ErrBlocked},
		{"metadata.fetchstream.test", wire.ErrBlocked},
		{"nosuch.fetchstream.test", wire.ErrDNS},
		{"loopback.fetchstream.test", ""}, // 127.0.0.1 is open here
		{"mixed.fetchstream.test", ""},    // 10.0.0.1 refused, then 127.0.0.1 used
		{"localhost", ""},                 // resolves to 127.0.0.1 (and ::1, refused)
		{"mapped.fetchstream.test", ""},   // ::ffff:127.0.0.1 is judged as 127.0.0.1
	}
	for _, c := range cases {
		r, _ := fetch(f, "http://"+c.host+p+"/json", 2*time.Second)
		if r.Error != c.kind {
			t.Errorf("%s: got %q (%s), want %q", c.host, r.Error, r.Message, c.kind)
		}
		if c.kind == wire.ErrBlocked && !strings.Contains(r.Message, "not a permitted destination") {
			t.Errorf("%s: message %q should say why", c.host, r.Message)
		}
	}
}

// A redirect is a new dial, judged like the first: an allowed host cannot
// redirect to a refused one, whatever the policy opens.
func TestPolicyRefusesRedirects(t *testing.T) {
	origin := fetchtest.NewHostile(t) // on 127.0.0.1
	neighbour := fetchtest.NewCounter(t, "127.0.0.2:0")
	local := fetchtest.NewCounter(t, "127.0.0.1:0") // reached by 0.0.0.0 too
	private := Policy{AllowPrivate: true}
	redirect := func(to string) string { return origin.URL("/redirect?to=" + url.QueryEscape(to)) }
	cases := []struct {
		name   string
		policy Policy
		to     string
		kind   wire.ErrorKind
	}{
		{"to a loopback neighbour outside --allow-net", loopbackOnly, neighbour.URL + "/", wire.ErrBlocked},
		{"to the metadata address under --allow-private", private, "http://169.254.169.254/latest/meta-data/", wire.ErrBlocked},
		{"to mapped metadata under --allow-private", private, "http://[::ffff:169.254.169.254]/", wire.ErrBlocked},
		{"to 0.0.0.0 (this host) under --allow-private", private, "http://0.0.0.0:" + portOf(local.Listener) + "/", wire.ErrBlocked},
		{"to CGNAT under --allow-private", private, "http://100.64.0.1/", wire.ErrBlocked},
		{"to file:", private, "file:///etc/passwd", wire.ErrInvalidURL},
		{"to gopher:", private, "gopher://127.0.0.1:70/_x", wire.ErrInvalidURL},
		{"to an allowed host (control)", private, neighbour.URL + "/", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newTestFetcher(t, Config{Policy: c.policy})
			before := neighbour.Hits()
			r, _ := fetch(f, redirect(c.to), 2*time.Second)
			if r.Error != c.kind {
				t.Fatalf("got %q (%s), want %q", r.Error, r.Message, c.kind)
			}
			if c.kind == "" {
				if neighbour.Hits() != before+1 || r.FinalURL != c.to || r.Redirects != 1 {
					t.Errorf("allowed redirect: hits %d→%d, final_url %q, redirects %d", before, neighbour.Hits(), r.FinalURL, r.Redirects)
				}
				return
			}
			if c.kind == wire.ErrBlocked && r.FinalURL != c.to {
				t.Errorf("final_url %q, want the refused hop %q", r.FinalURL, c.to)
			}
		})
	}
	if neighbour.Hits() != 1 || local.Hits() != 0 {
		t.Errorf("refused destinations were reached: neighbour %d (want only the control's 1), local %d", neighbour.Hits(), local.Hits())
	}
}

// A proxy from the environment is ignored: the fetcher dials every
// destination itself, so the policy sees every address. The proxy would be
// allowed (127.0.0.1 is open) and would reach anything for us.
func TestPolicyIgnoresEnvironmentProxy(t *testing.T) {
	proxy := fetchtest.NewCounter(t, "127.0.0.1:0")
	for _, name := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"} {
		t.Setenv(name, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	target := fetchtest.NewHostile(t)
	f := newTestFetcher(t, Config{Policy: loopbackOnly, Resolver: fetchtest.NewResolver(t, testNames)})
	cases := []struct {
		url  string
		kind wire.ErrorKind
	}{
		{"http://169.254.169.254/latest/meta-data/", wire.ErrBlocked},
		{"https://169.254.169.254/", wire.ErrBlocked},
		{"http://private.fetchstream.test/", wire.ErrBlocked},
		{"https://metadata.fetchstream.test/", wire.ErrBlocked},
		{"http://nosuch.fetchstream.test/", wire.ErrDNS},
		{target.URL("/json"), ""},
	}
	for _, c := range cases {
		if r, _ := fetch(f, c.url, 2*time.Second); r.Error != c.kind {
			t.Errorf("%s: got %q (%s), want %q", c.url, r.Error, r.Message, c.kind)
		}
	}
	if hits := proxy.Hits(); hits != 0 {
		t.Errorf("the environment's proxy was used %d times", hits)
	}
}
