package settings

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peterbourgon/ff/v3"
)

// newFlags is a command's flag set with a duration, a count and --config.
func newFlags() (*flag.FlagSet, *time.Duration, *int) {
	fs := flag.NewFlagSet("fetchstream try", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", time.Second, "")
	count := fs.Int("count", 1, "")
	fs.String("config", "", "")
	return fs, timeout, count
}

// The command line wins over the environment, which wins over the file.
func TestPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "try.conf")
	if err := os.WriteFile(path, []byte("# comment\n\ntimeout 3s\n--count 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FETCHSTREAM_COUNT", "2")
	fs, timeout, count := newFlags()
	if err := ff.Parse(fs, []string{"--config", path}, Options(fs, false)...); err != nil {
		t.Fatal(err)
	}
	if *timeout != 3*time.Second || *count != 2 {
		t.Errorf("timeout %s, count %d; want 3s (file), 2 (environment)", *timeout, *count)
	}
	fs, _, count = newFlags()
	if err := ff.Parse(fs, []string{"--config", path, "--count", "4"}, Options(fs, false)...); err != nil || *count != 4 {
		t.Errorf("count %d, err %v; want 4 (flag)", *count, err)
	}
}

// Each mistake is one line naming the flag, the variable or the file and
// line, with the form wanted; a file of another command can be read with
// ignoreUndefined.
func TestMistakesAreOneLine(t *testing.T) {
	dir := t.TempDir()
	n := 0
	file := func(text string) string {
		n++
		path := filepath.Join(dir, fmt.Sprintf("%d.conf", n))
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	unknown := file("nosuch 1\n")
	badValue := file("\ntimeout 10\n")
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{args: []string{"--timeout", "10"}, want: `--timeout "10": want a duration such as 10s, 500ms or 2m`},
		{args: []string{"--count", "many"}, want: `--count "many": want a whole number`},
		{args: []string{"--nope"}, want: `no flag --nope (see fetchstream try -h)`},
		{env: "many", want: `FETCHSTREAM_COUNT="many" (--count): want a whole number`},
		{args: []string{"--config", unknown}, want: unknown + `:1: no flag --nosuch (see fetchstream try -h)`},
		{args: []string{"--config", badValue}, want: badValue + `:2: --timeout "10": want a duration such as 10s, 500ms or 2m`},
		{args: []string{"--config", file("count=2\n")}, want: `:1: "count=2": want "count 2" (the flag, a space, its value)`},
		{args: []string{"--config", file("config x\n")}, want: `:1: a config file cannot name another config file`},
	} {
		if tc.env != "" {
			t.Setenv("FETCHSTREAM_COUNT", tc.env)
		}
		fs, _, _ := newFlags()
		err := Explain(fs, ff.Parse(fs, tc.args, Options(fs, false)...))
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v %s: %v, want one line ending %s", tc.args, tc.env, err, tc.want)
		}
		os.Unsetenv("FETCHSTREAM_COUNT")
	}
	fs, _, count := newFlags()
	other := file("other 1\ncount 5\n")
	if err := ff.Parse(fs, []string{"--config", other}, Options(fs, true)...); err != nil || *count != 5 {
		t.Errorf("ignoreUndefined: count %d, err %v; want 5 and the unknown line skipped", *count, err)
	}
	if err := errors.New("other"); Explain(fs, err) != err {
		t.Error("Explain changed an error that is not a parse error")
	}
}

// A FETCHSTREAM_ variable that names no flag is found, to be warned about.
func TestUnknownEnv(t *testing.T) {
	fs, _, _ := newFlags()
	got := UnknownEnv(fs, []string{"FETCHSTREAM_CUONT=8", "FETCHSTREAM_COUNT=5", "PATH=/bin", "FETCHSTREAMX=1", "FETCHSTREAM_TIME_OUT=1"})
	if !slices.Equal(got, []string{"FETCHSTREAM_CUONT", "FETCHSTREAM_TIME_OUT"}) {
		t.Errorf("unknown %v", got)
	}
}

// A Renamer rewrites the longest name first and keeps the error's chain.
func TestRenamer(t *testing.T) {
	base := errors.New("Fetch.PerHostRate must exceed Fetch.PerHost")
	err := NewRenamer(map[string]string{"Fetch.PerHost": "--per-host", "Fetch.PerHostRate": "--per-host-rate"}).Rename(base)
	if err.Error() != "--per-host-rate must exceed --per-host" || !errors.Is(err, base) {
		t.Errorf("renamed %q", err)
	}
	if NewRenamer(nil).Rename(nil) != nil {
		t.Error("nil was renamed into an error")
	}
}

// Flags after the URLs are parsed as flags, not sent as URLs; "--" ends
// the flags; an unknown flag after a URL is an error naming it.
func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args, want []string
		json       bool
		id         string
	}{
		{args: []string{"http://a", "--json", "http://b"}, want: []string{"http://a", "http://b"}, json: true},
		{args: []string{"http://a", "--id", "x", "-", "--json"}, want: []string{"http://a", "-"}, json: true, id: "x"},
		{args: []string{"http://a", "--", "--json"}, want: []string{"http://a", "--json"}},
		{args: []string{"http://a", "--id", "x", "--", "--json"}, want: []string{"http://a", "--json"}, id: "x"},
		{args: nil, want: nil},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		asJSON := fs.Bool("json", false, "")
		id := fs.String("id", "", "")
		got, err := ParseInterleaved(fs, tc.args)
		if err != nil || !slices.Equal(got, tc.want) || *asJSON != tc.json || *id != tc.id {
			t.Errorf("%q: %q, json %v, id %q, err %v; want %q, json %v, id %q", tc.args, got, *asJSON, *id, err, tc.want, tc.json, tc.id)
		}
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := ParseInterleaved(fs, []string{"http://a", "--nosuch"}); err == nil {
		t.Error("an unknown flag after a URL was accepted")
	}
}
