package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// Bad run flags are refused with an error that names the flag, before
// anything starts.
func TestRunFlagsValidated(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--concurrency", "0"}, "--concurrency"},
		{[]string{"--window", "0"}, "--window"},
		{[]string{"--timeout", "0s"}, "--timeout"},
		{[]string{"--retries", "11"}, "--retries"},
		{[]string{"--publish-linger", "-1ms"}, "--publish-linger"},
		{[]string{"--publish-linger", "1s"}, "--publish-linger"},
		{[]string{"--body", "xml"}, "--body"},
		{[]string{"--pprof"}, "--pprof"},
	} {
		var cfg runConfig
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		err := cfg.validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
	var cfg runConfig
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	cfg.register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := cfg.validate(); err != nil {
		t.Errorf("the defaults are refused: %v", err)
	}
}
