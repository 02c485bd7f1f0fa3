package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/peterbourgon/ff/v3"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
)

// runStderr runs Main with args and returns its exit code and stderr.
func runStderr(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stderr syncBuffer
	code := Main(t.Context(), args, &syncBuffer{}, &stderr)
	return code, stderr.String()
}

// A bad flag, variable or config line is one line that names where it is
// and the form wanted, not the whole usage.
func TestParseErrorsAreOneLine(t *testing.T) {
	dir := t.TempDir()
	file := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	equals := file("equals.conf", "# settings\nconcurrency=8\n")
	nested := file("nested.conf", "config other.conf\n")
	badValue := file("value.conf", "max-batch 5\n\n  timeout 10\n")
	unknown := file("unknown.conf", "--nosuch 1\n")
	for _, tc := range []struct {
		args []string
		env  [2]string
		want string
	}{
		{args: []string{"run", "--timeout", "10"}, want: `--timeout "10": want a duration such as 10s, 500ms or 2m`},
		{args: []string{"run", "--concurrency", "many"}, want: `--concurrency "many": want a whole number`},
		{args: []string{"run", "--refuse-large=maybe"}, want: `--refuse-large "maybe": want true or false`},
		{args: []string{"run", "--max-body", "lots"}, want: `--max-body "lots": "lots" is not a size like 262144, 256KiB or 1MiB`},
		{args: []string{"run", "--nope"}, want: `no flag --nope (see fetchstream run -h)`},
		{args: []string{"publish", "--wait-timeout", "3"}, want: `--wait-timeout "3": want a duration`},
		{args: []string{"publish", "-H", "NoColon", "http://a/"}, want: `-H "NoColon": "NoColon" is not a header: want 'Name: value'`},
		{args: []string{"publish", "-Z", "http://a/"}, want: `no flag -Z (see fetchstream publish -h)`},
		{args: []string{"run"}, env: [2]string{"FETCHSTREAM_TIMEOUT", "10"}, want: `FETCHSTREAM_TIMEOUT="10" (--timeout): want a duration such as 10s`},
		{args: []string{"run", "--config", equals}, want: equals + `:2: "concurrency=8": want "concurrency 8" (the flag, a space, its value)`},
		{args: []string{"run", "--config", nested}, want: nested + `:1: a config file cannot name another config file`},
		{args: []string{"run", "--config", badValue}, want: badValue + `:3: --timeout "10": want a duration such as 10s`},
		{args: []string{"run", "--config", unknown}, want: unknown + `:1: no flag --nosuch (see fetchstream run -h)`},
	} {
		if tc.env[0] != "" {
			t.Setenv(tc.env[0], tc.env[1])
		}
		code, stderr := runStderr(t, tc.args...)
		if tc.env[0] != "" {
			os.Unsetenv(tc.env[0])
		}
		if code != exitError || !strings.HasPrefix(stderr, "fetchstream: "+tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v %v: exit %d, stderr %q; want one line: %s", tc.env, tc.args, code, stderr, tc.want)
		}
	}
	var stdout, stderr syncBuffer
	if code := Main(t.Context(), []string{"run", "-h"}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "-concurrency") {
		t.Errorf("run -h: exit %d, want the usage on stdout; got %.200q", code, stdout.String())
	}
}

// Flags win over FETCHSTREAM_<FLAG> variables, which win over the file.
func TestSettingsPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.conf")
	if err := os.WriteFile(path, []byte("concurrency 8\nmax-batch 5\nwindow 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FETCHSTREAM_CONCURRENCY", "16")
	t.Setenv("FETCHSTREAM_MAX_BATCH", "6")
	var flags runFlags
	fs := flag.NewFlagSet("fetchstream run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags.register(fs)
	fs.String("config", "", "")
	if err := ff.Parse(fs, []string{"--config", path, "--concurrency", "32"}, settings.Options(fs, false)...); err != nil {
		t.Fatal(err)
	}
	if f := flags.cfg.Fetch; f.Concurrency != 32 || f.MaxBatch != 6 || f.Window != 7 {
		t.Errorf("concurrency %d, max batch %d, window %d; want 32 (flag), 6 (environment), 7 (file)", f.Concurrency, f.MaxBatch, f.Window)
	}
}

// A FETCHSTREAM_ variable that names no flag is found, to be warned about.
func TestUnknownEnvironmentVariables(t *testing.T) {
	var flags runFlags
	fs := flag.NewFlagSet("fetchstream run", flag.ContinueOnError)
	flags.register(fs)
	got := settings.UnknownEnv(fs, []string{"FETCHSTREAM_CONCURENCY=8", "FETCHSTREAM_MAX_BATCH=5", "PATH=/bin", "FETCHSTREAM_NATS_URL=x", "FETCHSTREAMX=1"})
	if !slices.Equal(got, []string{"FETCHSTREAM_CONCURENCY"}) {
		t.Errorf("unknown %v, want [FETCHSTREAM_CONCURENCY]", got)
	}
}
