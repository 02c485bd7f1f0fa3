package main

import (
	"strings"
	"testing"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
)

// Through run's flags, a blocked result names only the flag that would
// open the address: --allow-private for a private one, --allow-net alone
// for link-local (cloud metadata), CGNAT, 0.0.0.0 and multicast, which
// --allow-private never opens.
func TestBlockedMessageNamesTheFlagThatOpens(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	startService(t, url)
	cases := []struct{ url, want string }{
		{"http://10.255.255.1/", "; use --allow-private or --allow-net to permit it"},
		{"http://169.254.169.254/latest/meta-data/", "; use --allow-net to permit it"},
		{"http://100.64.0.1/", "; use --allow-net to permit it"},
		{"http://0.0.0.0:9/", "; use --allow-net to permit it"},
		{"http://224.0.0.1/", "; use --allow-net to permit it"},
	}
	var batch wire.Batch
	for _, c := range cases {
		batch.URLs = append(batch.URLs, wire.Request{URL: c.url})
	}
	got := loadtest.RequestBatch(t, nc, wire.DefaultInSubject, batch)
	for i, c := range cases {
		if got[i].Error != wire.ErrBlocked || !strings.HasSuffix(got[i].Message, c.want) {
			t.Errorf("%s: %q %q, want blocked ending %q", c.url, got[i].Error, got[i].Message, c.want)
		}
	}
}
