// Package settings reads a fetchstream command's settings and words its
// mistakes. Where a setting comes from, highest first: the command line,
// then FETCHSTREAM_<FLAG> environment variables, then the --config file
// (one "flag value" per line). Each kind of mistake is reported in one
// line naming where it is (the flag, the variable, or the file and line)
// with the form wanted; Explain rewrites the flag package's own errors so.
// It also holds the flag.Value types the commands share (ByteSize and the
// lists), flags after arguments (ParseInterleaved), and the Renamer that
// words a library's errors in the command's flags.
package settings

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/peterbourgon/ff/v3"
)

// EnvPrefix names the environment variables that set flags.
const EnvPrefix = "FETCHSTREAM"

// Options are the ff options of a command whose flags are fs: its
// FETCHSTREAM_<FLAG> variables (lists split at commas) and its --config
// file, read by fs's own parser (see configParser). With ignoreUndefined,
// config lines that name no flag of fs are skipped (a command that reads
// another command's file).
func Options(fs *flag.FlagSet, ignoreUndefined bool) []ff.Option {
	opts := []ff.Option{
		ff.WithEnvVarPrefix(EnvPrefix),
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

// UnknownEnv lists the FETCHSTREAM_* variables in environ (as
// os.Environ gives it) that name no flag of fs, in environ's order: a
// misspelt setting, which would otherwise do nothing without a word.
func UnknownEnv(fs *flag.FlagSet, environ []string) []string {
	var unknown []string
	for _, kv := range environ {
		key, _, _ := strings.Cut(kv, "=")
		rest, ok := strings.CutPrefix(key, EnvPrefix+"_")
		if !ok {
			continue
		}
		if fs.Lookup(strings.ToLower(strings.ReplaceAll(rest, "_", "-"))) == nil {
			unknown = append(unknown, key)
		}
	}
	return unknown
}

// ParseInterleaved parses the flags of fs found among args, which the
// first parse left there because the flag package stops at the first
// argument that is not a flag (curl users write flags after the URLs),
// and returns the other arguments in their order. After "--" every
// argument is taken as it is; a lone "-" is an argument.
func ParseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for len(args) > 0 {
		if a := args[0]; a == "--" {
			return append(rest, args[1:]...), nil
		} else if a == "-" || !strings.HasPrefix(a, "-") {
			rest, args = append(rest, a), args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		left := fs.Args()
		if used := len(args) - len(left); used > 0 && args[used-1] == "--" {
			return append(rest, left...), nil
		}
		args = left
	}
	return rest, nil
}

// Renamer rewrites the names a library's errors use (the fields of its
// Config) into the command's flags, so that an error reads in the terms
// the user typed.
type Renamer struct{ r *strings.Replacer }

// NewRenamer rewrites each key of names into its value; where one name
// holds another, the longer wins.
func NewRenamer(names map[string]string) *Renamer {
	keys := slices.SortedFunc(maps.Keys(names), func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), cmp.Compare(a, b))
	})
	pairs := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, k, names[k])
	}
	return &Renamer{r: strings.NewReplacer(pairs...)}
}

// Rename is err with the names it holds rewritten (nil stays nil);
// errors.Is and errors.As still see err.
func (n *Renamer) Rename(err error) error {
	if err == nil {
		return nil
	}
	return &renamed{err: err, msg: n.r.Replace(err.Error())}
}

// Replace is s with the names it holds rewritten.
func (n *Renamer) Replace(s string) string { return n.r.Replace(s) }

type renamed struct {
	err error
	msg string
}

func (e *renamed) Error() string { return e.msg }
func (e *renamed) Unwrap() error { return e.err }
