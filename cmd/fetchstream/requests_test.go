package main

import (
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
)

const cliSecret = "cli-secret-9f8e7d6c5b4a"

func writeCredentials(t *testing.T, host string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials.json")
	file := `{"api": {"hosts": ["` + host + `"], "headers": {"Authorization": "Bearer ${FETCHSTREAM_TEST_API_TOKEN}"}}}`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// --credentials is loaded at start: a missing variable or file is a
// start-up error naming the credential and the variable, never a value.
func TestRunCredentialsFlag(t *testing.T) {
	path := writeCredentials(t, "api.example.com")
	for _, tc := range []struct {
		name, file, want string
	}{
		{"missing variable", path, `credential "api": header Authorization: environment variable FETCHSTREAM_TEST_API_TOKEN is not set`},
		{"missing file", filepath.Join(t.TempDir(), "none.json"), "--credentials"},
	} {
		var stderr syncBuffer
		code := Main(t.Context(), []string{"run", "--nats-url", "nats://127.0.0.1:1", "--credentials", tc.file}, &syncBuffer{}, &stderr)
		if code != exitError || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 naming %q", tc.name, code, stderr.String(), tc.want)
		}
	}
	t.Setenv("FETCHSTREAM_TEST_API_TOKEN", cliSecret)
	var flags runFlags
	parseRunFlags(t, &flags, "--credentials", path)
	cfg, err := flags.config()
	if err != nil {
		t.Fatal(err)
	}
	if names := cfg.Fetch.Credentials.Names(); len(names) != 1 || names[0] != "api" {
		t.Errorf("credentials %v", names)
	}
}

// The request flags of run reach the service's Config, and bad ones are
// refused naming the flag.
func TestRunRequestFlags(t *testing.T) {
	var flags runFlags
	parseRunFlags(t, &flags, "--user-agent", "bot/2", "--max-request-body", "1KiB", "--response-headers", "ETag,Last-Modified", "--response-headers", "Location")
	f := flags.cfg.Fetch
	if f.UserAgent != "bot/2" || f.MaxRequestBody != 1024 || strings.Join(f.ResponseHeaders, ",") != "ETag,Last-Modified,Location" {
		t.Errorf("fetch config %+v", f)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--response-headers", "bad name"}, `--response-headers "bad name" is not a header name`},
		{[]string{"--user-agent", "a\r\nb"}, "--user-agent must not hold a control character"},
	} {
		if err := newServiceFromFlags(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		}
	}
	// 0 is the default cap, as httpfetch.Config reads it (a negative size
	// is no size: the flag refuses it).
	if err := newServiceFromFlags(t, "--max-request-body", "0"); err != nil {
		t.Errorf("--max-request-body 0 (the default) refused: %v", err)
	}
}

// publish's curl-like flags make the batch: -X, -H, --data, --credential,
// --response-header and --no-follow, and the service sends the request so.
func TestPublishRequestFlags(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	var body string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, body = r, string(data)
		mu.Unlock()
		w.Header().Set("ETag", `"e1"`)
		w.Header().Set("Location", "/elsewhere")
		w.WriteHeader(http.StatusFound)
	}))
	t.Cleanup(target.Close)
	t.Setenv("FETCHSTREAM_TEST_API_TOKEN", cliSecret)
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	startService(t, url, "--credentials", writeCredentials(t, target.Listener.Addr().String()))
	batches := subscribe(t, nc, wire.DefaultInSubject)

	var stdout, stderr syncBuffer
	code := Main(t.Context(), []string{"publish", "--nats-url", url, "--wait", "--json", "--id", "req",
		"-X", "PUT", "-H", "Content-Type: application/json", "-H", "X-Trace:  t-1 ", "--data", `{"a":1}`,
		"--credential", "api", "--response-header", "ETag", "--response-header", "Location", "--no-follow",
		target.URL + "/thing"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	var b wire.Batch
	batches.next(&b, 5*time.Second)
	if b.Method != "PUT" || b.Credential != "api" || b.Headers["X-Trace"] != "t-1" || b.Follow() ||
		len(b.URLs) != 1 || string(b.URLs[0].Body) != `"{\"a\":1}"` {
		t.Errorf("published batch %+v", b)
	}
	mu.Lock()
	defer mu.Unlock()
	if got == nil || got.Method != "PUT" || body != `{"a":1}` || got.Header.Get("Content-Type") != "application/json" ||
		got.Header.Get("Authorization") != "Bearer "+cliSecret || got.Header.Get("X-Trace") != "t-1" {
		t.Fatalf("the target got %v %q", got, body)
	}
	var r wire.Result
	if err := json.Unmarshal([]byte(strings.SplitN(stdout.String(), "\n", 2)[0]), &r); err != nil {
		t.Fatalf("output %s: %v", stdout.String(), err)
	}
	if r.Status != 302 || r.Method != "PUT" || r.Headers["etag"] != `"e1"` || r.Headers["location"] != "/elsewhere" {
		t.Errorf("result %+v", r)
	}
	if strings.Contains(stdout.String()+stderr.String(), cliSecret) {
		t.Error("publish printed the credential's value")
	}
	// --data alone is a POST, as with curl; bad flags are refused before
	// anything is published.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-X", "BREW"}, "-X must be one of"},
		{[]string{"-H", "Host: internal"}, "-H: invalid request: header Host may not be set"},
		{[]string{"-H", "no colon"}, "want 'Name: value'"},
		{[]string{"--data", "a", "--data-file", "f"}, "give one body"},
	} {
		var stderr syncBuffer
		code := Main(t.Context(), append(append([]string{"publish", "--nats-url", url}, tc.args...), target.URL), &syncBuffer{}, &stderr)
		if code == exitOK || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, code, stderr.String(), tc.want)
		}
	}
	cfg := publishConfig{data: "x"}
	if o := cfg.requestOptions(true); o.Method != "POST" {
		t.Errorf("--data without -X: method %q, want POST", o.Method)
	}
}

// parseRunFlags parses args into run's flags and returns their FlagSet.
func parseRunFlags(t *testing.T, flags *runFlags, args ...string) *flag.FlagSet {
	t.Helper()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

// On SIGHUP run loads the credentials file again: a good file replaces
// the set, a bad one is logged (without a value) and the set stays.
func TestReloadCredentialsOnHangup(t *testing.T) {
	var mu sync.Mutex
	var auth []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	t.Cleanup(target.Close)
	t.Setenv("FETCHSTREAM_TEST_API_TOKEN", cliSecret)
	path := writeCredentials(t, "elsewhere.example")
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	svc := startService(t, url, "--credentials", path)
	logs := &syncBuffer{}
	hup := make(chan os.Signal, 1)
	go reloadCredentials(t.Context(), hup, path, svc, slog.New(slog.NewJSONHandler(logs, nil)))
	fetch := func() wire.Result {
		return loadtest.RequestBatch(t, nc, wire.DefaultInSubject, wire.Batch{URLs: []wire.Request{{URL: target.URL + "/", Credential: "api"}}})[0]
	}
	if r := fetch(); r.Error != wire.ErrInvalidRequest {
		t.Fatalf("before the reload: %+v", r)
	}
	// A broken file: logged, and the set stays.
	if err := os.WriteFile(path, []byte(`{"api": {"hosts": ["x"], "headers": {"A": "${FETCHSTREAM_TEST_UNSET}"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	waitUntil(t, "the failed reload logged", func() bool { return strings.Contains(logs.String(), "credentials not reloaded") })
	if !strings.Contains(logs.String(), "FETCHSTREAM_TEST_UNSET") {
		t.Errorf("the log does not name the variable: %s", logs)
	}
	// A good file for the target's host: the credential now goes there.
	_ = os.Remove(path)
	if err := os.Rename(writeCredentials(t, target.Listener.Addr().String()), path); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	waitUntil(t, "the reload logged", func() bool { return strings.Contains(logs.String(), `"msg":"credentials reloaded"`) })
	if r := fetch(); r.Error != "" {
		t.Fatalf("after the reload: %+v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auth) != 1 || auth[0] != "Bearer "+cliSecret {
		t.Errorf("the target got %q", auth)
	}
	if strings.Contains(logs.String(), cliSecret) {
		t.Errorf("the logs show the value: %s", logs)
	}
}

// waitUntil polls cond for up to 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
