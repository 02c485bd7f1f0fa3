package healthcheck

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/natsflags"
	"github.com/fetchstream/fetchstream/connectors/natstest"
)

// A check that passes says so on stdout; one that fails wraps
// ErrUnhealthy; a URL that cannot be asked is another error.
func TestChecks(t *testing.T) {
	ns, _ := natstest.Start(t)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer web.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := NATS(ctx, &natsflags.Flags{URL: ns.ClientURL()}, &out); err != nil || !strings.HasPrefix(out.String(), "ok: NATS at") {
		t.Errorf("NATS: %v, %q", err, out.String())
	}
	out.Reset()
	if err := HTTP(ctx, web.URL+"/up", &out); err != nil || !strings.Contains(out.String(), "answered 200 OK") {
		t.Errorf("HTTP up: %v, %q", err, out.String())
	}
	if err := HTTP(ctx, web.URL+"/down", &out); !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "answered 503") {
		t.Errorf("HTTP down: %v, want ErrUnhealthy and the status", err)
	}
	if err := HTTP(ctx, "::not a url", &out); err == nil || errors.Is(err, ErrUnhealthy) {
		t.Errorf("HTTP of a bad URL: %v, want an error that is not ErrUnhealthy", err)
	}
}
