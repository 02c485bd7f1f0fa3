package settings

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

var (
	badValue    = regexp.MustCompile(`invalid (?:boolean )?value "(.*)" for (?:flag )?-([\w.-]+): (.*)$`)
	unknownFlag = regexp.MustCompile(`flag provided but not defined: -+([\w.-]+)`)
	badEnv      = regexp.MustCompile(`error setting flag "([\w.-]+)" from environment variable "(\w+)": (.*)$`)
)

// Explain rewrites an error of parsing fs's flags or variables (a bad
// value, an unknown flag) in one line with the form wanted; other errors
// are returned as they are.
func Explain(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if m := badValue.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s %q: %s", Dashed(m[2]), m[1], wantForm(fs, m[2], errors.New(m[3])))
	}
	if m := unknownFlag.FindStringSubmatch(msg); m != nil {
		if near := nearFlag(fs, m[1]); near != "" {
			return fmt.Errorf("no flag %s: did you mean %s? (see fetchstream %s -h)", Dashed(m[1]), Dashed(near), commandName(fs))
		}
		return fmt.Errorf("no flag %s (see fetchstream %s -h)", Dashed(m[1]), commandName(fs))
	}
	if m := badEnv.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s=%q (%s): %s", m[2], os.Getenv(m[2]), Dashed(m[1]), wantForm(fs, m[1], errors.New(m[3])))
	}
	return err
}

// Dashed is the flag name as the command line's help and errors write
// it: -H for a one-letter flag (as curl's -H, -X), --timeout otherwise.
func Dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
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

// nearFlag is the flag of fs that name is most likely meant for: the one
// it begins (--timeout for --timeout-ms), or one at most two edits away;
// "" when none is or several are as near.
func nearFlag(fs *flag.FlagSet, name string) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return Nearest(name, names, func(candidate string) int {
		if strings.HasPrefix(candidate, name+"-") || strings.HasPrefix(name, candidate+"-") {
			return 0
		}
		return wire.EditDistance(name, candidate)
	})
}

// Nearest is the one of candidates that name is most likely a slip for:
// the one score puts nearest, at most 2 and below name's length, when it
// alone is that near; else "". The CLI's suggestions for flags and
// commands both pick this way.
func Nearest(name string, candidates []string, score func(candidate string) int) string {
	var best []string
	bestScore := 3
	for _, c := range candidates {
		d := score(c)
		switch {
		case d > 2 || d >= len(name) || d > bestScore:
		case d < bestScore:
			best, bestScore = []string{c}, d
		default:
			best = append(best, c)
		}
	}
	if len(best) != 1 {
		return ""
	}
	return best[0]
}
