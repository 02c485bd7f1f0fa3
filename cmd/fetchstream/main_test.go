package main

import (
	"strings"
	"testing"
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
