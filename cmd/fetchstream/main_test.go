package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// An unknown subcommand is an error (exit 1) that names it, followed by
// the usage; no arguments at all still print the usage and exit 0.
func TestUnknownCommand(t *testing.T) {
	code, stderr := runStderr(t, "frobnicate")
	first, _, _ := strings.Cut(stderr, "\n")
	if code != exitError || first != `fetchstream: unknown command "frobnicate"` || !strings.Contains(stderr, "USAGE") {
		t.Errorf("fetchstream frobnicate: exit %d, stderr:\n%s", code, stderr)
	}
	if code, stderr := runStderr(t); code != exitOK || !strings.Contains(stderr, "USAGE") {
		t.Errorf("fetchstream alone: exit %d, stderr:\n%s", code, stderr)
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
