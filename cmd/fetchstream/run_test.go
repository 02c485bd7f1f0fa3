package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// Bad run flags are refused with an error that names the flag, before
// anything starts.
func TestRunFlagsValidated(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--concurrency", "0"}, "--concurrency must be at least 1, got 0"},
		{[]string{"--startup-timeout", "500ms"}, "--startup-timeout must be at least 1s, got 500ms"},
		{[]string{"--window", "0"}, "--window"},
		{[]string{"--timeout", "0s"}, "--timeout"},
		{[]string{"--max-timeout", "1s", "--timeout", "5s"}, "--max-timeout (1s) must not be below --timeout (5s)"},
		{[]string{"--retries", "11"}, "--retries"},
		{[]string{"--concurrency", "8", "--reserve-slots", "8"},
			"--reserve-slots must be -1 (one in 64 of --concurrency), 0 (none) or below --concurrency (8), got 8"},
		{[]string{"--publish-linger", "-1ms"}, "--publish-linger"},
		{[]string{"--publish-linger", "1s"}, "--publish-linger"},
		{[]string{"--body", "xml"}, "--body"},
		{[]string{"--pprof"}, "--pprof needs --metrics-addr"},
		{[]string{"--jetstream", "--max-active", "1000"}, "--max-ack-pending (1000) must be at least --max-active+--max-waiting+2 (1258)"},
		{[]string{"--max-batch-time", "30s"}, "--max-batch-time (30s) must be at least --max-timeout (1m0s)"},
		{[]string{"--max-waiting", "-1"}, "--max-waiting must not be negative"},
		{[]string{"--queue", ""}, "--queue must not be empty"},
		{[]string{"--in", "fetch.*"}, `--in "fetch.*" would receive --out "fetch.results"`},
		{[]string{"--jetstream", "--dead-letter", "fetch.urls"}, `--in "fetch.urls" would receive --dead-letter "fetch.urls"`},
		{[]string{"--micro-subject", "fetch.results"}, `--micro-subject "fetch.results" would receive --out "fetch.results"`},
	} {
		err := newServiceFromFlags(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, service.ErrConfig) {
			t.Errorf("%v: got %v, want an ErrConfig naming %s", tc.args, err, tc.want)
		}
	}
	if err := newServiceFromFlags(t); err != nil {
		t.Errorf("the defaults are refused: %v", err)
	}
}

// newServiceFromFlags parses run's flags as run does and returns what
// service.New says of their Config, in flag terms.
func newServiceFromFlags(t *testing.T, args ...string) error {
	t.Helper()
	var flags runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	cfg, err := flags.config()
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	_, err = service.New(cfg, nil)
	return inFlagTerms(err)
}

// Every flag default is the service's: one source of truth.
func TestRunFlagDefaultsAreTheServices(t *testing.T) {
	var flags runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	flags.register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := flags.config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.NATS.URL, cfg.NATS.Options = "", nil // from the environment, not Defaults
	if cfg.Fetch.BlockedAdvice == nil {
		t.Error("run sets no Fetch.BlockedAdvice: blocked results would not name the flags that open them")
	}
	cfg.Fetch.BlockedAdvice = nil // the CLI's wording, not a default
	if want := service.Defaults(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("flag defaults:\n%+v\nservice.Defaults():\n%+v", cfg, want)
	}
}

// Every field the service names in its errors has a flag.
func TestEveryConfigFieldHasAFlag(t *testing.T) {
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			field := typ.Field(i)
			name := prefix + field.Name
			switch {
			case name == "NATS.Options", name == "Fetch.BlockedAdvice": // set in code, not by a flag
			case name == "Tracing": // set from the OTEL_* variables, as the ecosystem does, not by a flag
			case field.Type.Kind() == reflect.Struct:
				walk(name+".", field.Type)
			case flagOf[name] == "":
				t.Errorf("Config.%s has no flag in flagOf", name)
			}
		}
	}
	walk("", reflect.TypeFor[service.Config]())
}

func TestBadFlagsAreClearErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--concurrency", "0"},
		{"--concurrency", "many"},
		{"--timeout", "-1s"},
		{"--max-timeout", "1s", "--timeout", "5s"},
		{"--allow-net", "10.0.0.0/33"},
		{"--max-body", "lots"},
		{"--out", "fetch.*"},
		{"--in", "a..b"},
		{"--log-level", "loud"},
		{"--listen", "nowhere"},
		{"--in", "fetch.*"},
		{"--jetstream", "--dead-letter", "fetch.urls"},
		{"--jetstream", "--output-retry-for", "500ms"},
	} {
		var stderr syncBuffer
		code := Main(t.Context(), append([]string{"run", "--nats-url", "nats://127.0.0.1:1"}, args...), &syncBuffer{}, &stderr)
		if code != exitError || stderr.String() == "" {
			t.Errorf("run %v: exit %d, stderr %q; want exit 1 with a message", args, code, stderr.String())
		}
	}
}

// A configuration whose output would come back as its input is refused
// at start, before any connection, in flag terms.
func TestRunRefusesLoopsAtStart(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--in", "fetch.*"}, `--in "fetch.*" would receive --out "fetch.results"`},
		{[]string{"--jetstream", "--dead-letter", "fetch.urls"}, `--in "fetch.urls" would receive --dead-letter "fetch.urls"`},
	} {
		var stderr syncBuffer
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // without the check, it would wait for NATS
		code := Main(ctx, append([]string{"run", "--nats-url", "nats://127.0.0.1:1"}, tc.args...), &syncBuffer{}, &stderr)
		cancel()
		if code != exitError || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("run %v: exit %d, stderr %q; want exit 1 saying %s", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// A second signal during the shutdown grace ends run at once, exit 1,
// with the URL in flight published as canceled.
func TestSecondSignalCutsTheGraceShort(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	results := subscribe(t, nc, wire.DefaultResultsSubject)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cut := make(chan struct{})
	var stderr syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- Main(withCutShort(ctx, cut), []string{"run", "--nats-url", url, "--allow-net", "127.0.0.0/8", "--log-format", "text",
			"--shutdown-grace", "1h", "--timeout", "1h", "--max-timeout", "1h", "--max-batch-time", "1h"}, &syncBuffer{}, &stderr)
	}()
	waitUntil(t, "the service answers a micro ping", func() bool {
		_, err := nc.Request("$SRV.PING.fetchstream", nil, 200*time.Millisecond)
		return err == nil
	})
	data, _ := json.Marshal(wire.Batch{ID: "held", URLs: wire.URLs(target.URL("/hang"))})
	if err := nc.Publish(wire.DefaultInSubject, data); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the batch in flight", func() bool { return target.InFlight() == 1 })
	cancel() // the first signal
	time.Sleep(100 * time.Millisecond)
	close(cut) // the second
	select {
	case code := <-exited:
		if code != exitError || !strings.Contains(stderr.String(), "shutdown cut short") {
			t.Errorf("exit %d, stderr %q; want exit 1, cut short", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run still in its hour of grace after the second signal")
	}
	if r := results.results(1, 5*time.Second); r[0].Error != wire.ErrCanceled {
		t.Errorf("the held URL ended as %q, want canceled", r[0].Error)
	}
}
