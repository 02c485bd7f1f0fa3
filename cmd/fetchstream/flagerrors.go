package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3"
)

// Where a command's settings come from, highest first: its flags, then
// FETCHSTREAM_<FLAG> environment variables, then the --config file. Each
// kind of mistake is reported in one line naming where it is: the flag,
// the variable, or the file and line, with the form wanted.

// envPrefix names the environment variables that set flags.
const envPrefix = "FETCHSTREAM"

// parseOptions are the ff options every command uses, with fs's own
// config file parser (see configParser).
func parseOptions(fs *flag.FlagSet, ignoreUndefined bool) []ff.Option {
	opts := []ff.Option{
		ff.WithEnvVarPrefix(envPrefix),
		ff.WithEnvVarSplit(","),
		ff.WithConfigFileFlag("config"),
		ff.WithConfigFileParser(configParser(fs, ignoreUndefined)),
	}
	if ignoreUndefined {
		opts = append(opts, ff.WithIgnoreUndefined(true))
	}
	return opts
}

// configParser reads a --config file of fs: one "flag value" per line
// (the flag's leading dashes optional), blank lines and # comments
// skipped. Its errors name the file and the line: a line that is not
// "flag value", a nested config, a flag fs does not have (unless
// ignoreUndefined), a value of the wrong form.
func configParser(fs *flag.FlagSet, ignoreUndefined bool) ff.ConfigFileParser {
	return func(r io.Reader, set func(name, value string) error) error {
		file := "the config file"
		if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
			file = f.Value.String()
		}
		scanner := bufio.NewScanner(r)
		for n := 1; scanner.Scan(); n++ {
			line := strings.TrimSpace(scanner.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, value, _ := strings.Cut(line, " ")
			name, value = strings.TrimLeft(name, "-"), strings.TrimSpace(value)
			at := fmt.Sprintf("%s:%d", file, n)
			switch {
			case strings.Contains(name, "="):
				flagName, v, _ := strings.Cut(name, "=")
				return fmt.Errorf("%s: %q: want %q (the flag, a space, its value)", at, line, flagName+" "+v)
			case name == "config":
				return fmt.Errorf("%s: a config file cannot name another config file", at)
			case fs.Lookup(name) == nil && ignoreUndefined:
				continue
			case fs.Lookup(name) == nil:
				return fmt.Errorf("%s: no flag --%s (see fetchstream %s -h)", at, name, commandName(fs))
			}
			if err := set(name, value); err != nil {
				return fmt.Errorf("%s: --%s %q: %s", at, name, value, wantForm(fs, name, errors.Unwrap(err)))
			}
		}
		if err := scanner.Err(); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		return nil
	}
}

var (
	badValue    = regexp.MustCompile(`invalid (?:boolean )?value "(.*)" for (?:flag )?-([\w.-]+): (.*)$`)
	unknownFlag = regexp.MustCompile(`flag provided but not defined: -+([\w.-]+)`)
	badEnv      = regexp.MustCompile(`error setting flag "([\w.-]+)" from environment variable "(\w+)": (.*)$`)
)

// explainParseError rewrites a flag or environment parse error of fs in
// one line with the form wanted; other errors are returned as they are.
func explainParseError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if m := badValue.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("--%s %q: %s", m[2], m[1], wantForm(fs, m[2], errors.New(m[3])))
	}
	if m := unknownFlag.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("no flag --%s (see fetchstream %s -h)", m[1], commandName(fs))
	}
	if m := badEnv.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s=%q (--%s): %s", m[2], os.Getenv(m[2]), m[1], wantForm(fs, m[1], errors.New(m[3])))
	}
	return err
}

// wantForm says what form the flag's value takes, from its type; a flag
// of its own type says it in err.
func wantForm(fs *flag.FlagSet, name string, err error) string {
	f := fs.Lookup(name)
	if f == nil {
		return fmt.Sprint(err)
	}
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case time.Duration:
			return "want a duration such as 10s, 500ms or 2m"
		case bool:
			return "want true or false"
		case int, int64, uint, uint64:
			return "want a whole number"
		case float64:
			return "want a number"
		}
	}
	if err == nil {
		return "not a valid value"
	}
	return err.Error()
}

// commandName is the subcommand a flag set belongs to ("run" of
// "fetchstream run").
func commandName(fs *flag.FlagSet) string {
	name := strings.TrimPrefix(fs.Name(), "fetchstream ")
	if name == "" || name == "fetchstream" {
		return "<command>"
	}
	return name
}

// unknownEnv lists the FETCHSTREAM_* variables in environ that name no
// flag of fs: a misspelt setting, which would otherwise do nothing
// without a word.
func unknownEnv(fs *flag.FlagSet, environ []string) []string {
	var unknown []string
	for _, kv := range environ {
		key, _, _ := strings.Cut(kv, "=")
		rest, ok := strings.CutPrefix(key, envPrefix+"_")
		if !ok {
			continue
		}
		if fs.Lookup(strings.ToLower(strings.ReplaceAll(rest, "_", "-"))) == nil {
			unknown = append(unknown, key)
		}
	}
	return unknown
}
