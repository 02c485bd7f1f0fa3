package main

import (
	"flag"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
)

// An unknown subcommand is an error (exit 1) that names it, and the one
// it is likely a slip for, followed by the usage; no arguments at all is
// the usage on stderr and exit 2, as go does (it printed the usage twice
// and exited 0).
func TestUnknownCommand(t *testing.T) {
	code, stderr := runStderr(t, "frobnicate")
	first, _, _ := strings.Cut(stderr, "\n")
	if code != exitError || first != `fetchstream: unknown command "frobnicate"` || !strings.Contains(stderr, "USAGE") {
		t.Errorf("fetchstream frobnicate: exit %d, stderr:\n%s", code, stderr)
	}
	for typo, want := range map[string]string{"pubish": "publish", "Publsh": "publish", "rn": "run", "helth": "health", "versoin": "version"} {
		code, stderr := runStderr(t, typo)
		first, _, _ := strings.Cut(stderr, "\n")
		if wantFirst := `fetchstream: unknown command "` + typo + `" (did you mean "` + want + `"?)`; code != exitError || first != wantFirst {
			t.Errorf("fetchstream %s: exit %d, first line %q; want %q", typo, code, first, wantFirst)
		}
	}
	if _, stderr := runStderr(t, "xy"); strings.Contains(stderr, "did you mean") {
		t.Errorf("fetchstream xy: a suggestion for two letters that match nothing:\n%s", stderr)
	}
	var stdout, stderrBuf syncBuffer
	if code := Main(t.Context(), nil, &stdout, &stderrBuf); code != exitUsage || stdout.String() != "" ||
		strings.Count(stderrBuf.String(), "USAGE") != 1 || !strings.Contains(stderrBuf.String(), "SUBCOMMANDS") {
		t.Errorf("fetchstream alone: exit %d, stdout %q, stderr:\n%s", code, stdout.String(), stderrBuf.String())
	}
}

// The usage asked for goes to stdout, so that `fetchstream run -h | grep
// robots` works: -h and --help on any command, and help [command]; the
// errors stay on stderr.
func TestUsageAskedForGoesToStdout(t *testing.T) {
	for _, args := range [][]string{{"run", "-h"}, {"run", "--help"}, {"help", "run"}, {"help", "RUN"}} {
		var stdout, stderr syncBuffer
		code := Main(t.Context(), args, &stdout, &stderr)
		if code != exitOK || stderr.String() != "" || !strings.Contains(stdout.String(), "-robots") ||
			!strings.Contains(stdout.String(), "fetchstream run [flags]") {
			t.Errorf("%v: exit %d, stderr %q, stdout %.200q", args, code, stderr.String(), stdout.String())
		}
	}
	for _, args := range [][]string{{"-h"}, {"help"}} {
		var stdout, stderr syncBuffer
		code := Main(t.Context(), args, &stdout, &stderr)
		if code != exitOK || stderr.String() != "" || strings.Count(stdout.String(), "SUBCOMMANDS") != 1 ||
			!strings.Contains(stdout.String(), "  help ") || !strings.Contains(stdout.String(), "  version ") {
			t.Errorf("%v: exit %d, stderr %q, stdout %q", args, code, stderr.String(), stdout.String())
		}
	}
	var stdout, stderr syncBuffer
	if code := Main(t.Context(), []string{"help", "pubish"}, &stdout, &stderr); code != exitError || stdout.String() != "" ||
		!strings.HasPrefix(stderr.String(), `fetchstream: unknown command "pubish" (did you mean "publish"?)`) {
		t.Errorf("help pubish: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if code, stderr := runStderr(t, "help", "run", "publish"); code != exitError || !strings.Contains(stderr, "help takes one command at most") {
		t.Errorf("help run publish: exit %d, stderr %q", code, stderr)
	}
}

// version prints the build's module version, the release the micro
// service reports and the Go it was built with, on one line.
func TestVersion(t *testing.T) {
	var stdout, stderr syncBuffer
	code := Main(t.Context(), []string{"version"}, &stdout, &stderr)
	out := stdout.String()
	if code != exitOK || stderr.String() != "" || !strings.HasPrefix(out, "fetchstream ") || strings.Count(out, "\n") != 1 ||
		!strings.Contains(out, "release "+service.Version) || !strings.Contains(out, runtime.Version()) {
		t.Errorf("version: exit %d, stdout %q, stderr %q", code, out, stderr.String())
	}
	if code, stderr := runStderr(t, "version", "x"); code != exitError || !strings.Contains(stderr, "version takes no arguments") {
		t.Errorf("version x: exit %d, stderr %q", code, stderr)
	}
}

// Every flag of every command shows a one-word placeholder in -h (none
// for a bool): Go's flag package takes a `quoted` word of the usage as
// the argument's name, so a usage may quote only that.
func TestUsagePlaceholders(t *testing.T) {
	var walk func(c *ffcli.Command)
	walk = func(c *ffcli.Command) {
		c.FlagSet.VisitAll(func(f *flag.Flag) {
			name, _ := flag.UnquoteUsage(f)
			_, isBool := f.Value.(interface{ IsBoolFlag() bool })
			if strings.ContainsAny(name, " \t") || (isBool && name != "") {
				t.Errorf("%s -%s shows the placeholder %q in -h", c.FlagSet.Name(), f.Name, name)
			}
		})
		for _, sub := range c.Subcommands {
			walk(sub)
		}
	}
	walk(rootCommand(io.Discard, io.Discard))
}
