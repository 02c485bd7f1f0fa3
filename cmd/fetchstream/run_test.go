package main

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
)

// Bad run flags are refused with an error that names the flag, before
// anything starts.
func TestRunFlagsValidated(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--concurrency", "0"}, "--concurrency must be at least 1, got 0"},
		{[]string{"--window", "0"}, "--window"},
		{[]string{"--timeout", "0s"}, "--timeout"},
		{[]string{"--max-timeout", "1s", "--timeout", "5s"}, "--max-timeout (1s) must not be below --timeout (5s)"},
		{[]string{"--retries", "11"}, "--retries"},
		{[]string{"--publish-linger", "-1ms"}, "--publish-linger"},
		{[]string{"--publish-linger", "1s"}, "--publish-linger"},
		{[]string{"--body", "xml"}, "--body"},
		{[]string{"--pprof"}, "--pprof needs --metrics-addr"},
		{[]string{"--jetstream", "--max-active", "1000"}, "--max-ack-pending (1000) must be at least --max-active+2 (1002)"},
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
	} {
		var stderr syncBuffer
		code := Main(t.Context(), append([]string{"run", "--nats-url", "nats://127.0.0.1:1"}, args...), &syncBuffer{}, &stderr)
		if code != exitError || stderr.String() == "" {
			t.Errorf("run %v: exit %d, stderr %q; want exit 1 with a message", args, code, stderr.String())
		}
	}
}
