package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/connectors/natstest"
)

// health exits 0 only when what it checks answers, reading the same
// environment and config file as run.
func TestHealth(t *testing.T) {
	ns, _ := natstest.Start(t)
	natsURL := ns.ClientURL()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "nats://" + closed.Addr().String()
	closed.Close()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer web.Close()
	runConfigFile := filepath.Join(t.TempDir(), "run.conf")
	if err := os.WriteFile(runConfigFile, []byte("concurrency 8\nnats-url "+natsURL+"\nallow-net 10.0.0.0/8\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantOut  string // in stdout on success, in stderr on failure
	}{
		{"nats flag", nil, []string{"--nats-url", natsURL}, exitOK, "ok: NATS at"},
		{"nats env", map[string]string{"FETCHSTREAM_NATS_URL": natsURL, "FETCHSTREAM_CONCURRENCY": "8"}, nil, exitOK, "ok: NATS at"},
		{"run's config file", map[string]string{"FETCHSTREAM_CONFIG": runConfigFile}, nil, exitOK, "ok: NATS at"},
		{"nats down", nil, []string{"--nats-url", closedURL}, exitError, "unhealthy: connect to NATS"},
		{"http ok", nil, []string{"--http", web.URL + "/up"}, exitOK, "answered 200 OK"},
		{"http 503", nil, []string{"--http", web.URL + "/down"}, exitError, "unhealthy: GET " + web.URL + "/down answered 503"},
		{"http down", nil, []string{"--http", "http://" + strings.TrimPrefix(closedURL, "nats://")}, exitError, "unhealthy"},
		{"bad timeout", nil, []string{"--timeout", "0s"}, exitError, "--timeout must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("NATS_URL", "")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), append([]string{"health"}, c.args...), &stdout, &stderr)
			if code != c.wantCode {
				t.Fatalf("exit %d, want %d; stdout %q, stderr %q", code, c.wantCode, stdout.String(), stderr.String())
			}
			out := stdout.String()
			if c.wantCode != exitOK {
				out = stderr.String()
			}
			if !strings.Contains(out, c.wantOut) {
				t.Errorf("output %q does not contain %q", out, c.wantOut)
			}
		})
	}
}

// A check that passes says so on stdout; one that fails wraps
// errUnhealthy; a URL that cannot be asked is another error.
func TestHealthChecks(t *testing.T) {
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
	if err := checkNATS(ctx, &natsFlags{URL: ns.ClientURL()}, &out); err != nil || !strings.HasPrefix(out.String(), "ok: NATS at") {
		t.Errorf("NATS: %v, %q", err, out.String())
	}
	out.Reset()
	if err := checkHTTP(ctx, web.URL+"/up", &out); err != nil || !strings.Contains(out.String(), "answered 200 OK") {
		t.Errorf("HTTP up: %v, %q", err, out.String())
	}
	if err := checkHTTP(ctx, web.URL+"/down", &out); !errors.Is(err, errUnhealthy) || !strings.Contains(err.Error(), "answered 503") {
		t.Errorf("HTTP down: %v, want errUnhealthy and the status", err)
	}
	if err := checkHTTP(ctx, "::not a url", &out); err == nil || errors.Is(err, errUnhealthy) {
		t.Errorf("HTTP of a bad URL: %v, want an error that is not errUnhealthy", err)
	}
}
