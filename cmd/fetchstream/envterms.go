package main

import (
	"flag"
	"os"
	"regexp"
	"strings"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
)

// followMaxTimeout raises --max-batch-time, when it is not given, to
// --max-timeout when that is longer: the default (15m) must hold a
// batch's longest request, and a user who raises --max-timeout past it
// did not ask to learn of a second flag. A --max-batch-time given below
// --max-timeout is still refused, naming both.
func followMaxTimeout(fs *flag.FlagSet, r *runFlags) {
	f := &r.cfg.Fetch
	if !flagGiven(fs, "max-batch-time") && f.MaxTimeout > f.MaxBatchTime {
		f.MaxBatchTime = f.MaxTimeout
	}
}

// flagToken is a flag's name as errors write it.
var flagToken = regexp.MustCompile(`--[a-z0-9][a-z0-9-]*`)

// inEnvTerms is err with each flag it names that was set by a
// FETCHSTREAM_<FLAG> variable (not on the command line, which wins)
// named by that variable first: "FETCHSTREAM_MAX_WAITING (--max-waiting)
// must not be negative", so that the user finds what to change.
// probe is a fresh, unparsed copy of fs, to tell whether a flag holds
// its variable's value. nil stays nil; errors.Is and errors.As still see
// err.
func inEnvTerms(fs, probe *flag.FlagSet, err error) error {
	if err == nil || fs == nil || probe == nil {
		return err
	}
	fromEnv := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		name := envName(f.Name)
		value, ok := os.LookupEnv(name)
		p := probe.Lookup(f.Name)
		if !ok || p == nil {
			return
		}
		for part := range strings.SplitSeq(value, ",") { // lists split at commas, as settings does
			if p.Value.Set(part) != nil {
				return
			}
		}
		if p.Value.String() == f.Value.String() {
			fromEnv["--"+f.Name] = name
		}
	})
	if len(fromEnv) == 0 {
		return err
	}
	msg := err.Error()
	if strings.Contains(msg, settings.EnvPrefix+"_") {
		return err // it names the variable already (a value of the wrong form)
	}
	msg = flagToken.ReplaceAllStringFunc(msg, func(flagName string) string {
		if name, ok := fromEnv[flagName]; ok {
			return name + " (" + flagName + ")"
		}
		return flagName
	})
	return &renamedErr{err: err, msg: msg}
}

// envName is the FETCHSTREAM_<FLAG> variable of a flag.
func envName(flagName string) string {
	return settings.EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

type renamedErr struct {
	err error
	msg string
}

func (e *renamedErr) Error() string { return e.msg }
func (e *renamedErr) Unwrap() error { return e.err }
