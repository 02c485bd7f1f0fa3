package settings

import (
	"testing"

	"github.com/fetchstream/fetchstream/wire"
)

// Nearest suggests the one candidate within two edits, and nothing when
// none is, when two are as near, or when the slip is as long as the name.
func TestNearest(t *testing.T) {
	edits := func(name string) func(string) int {
		return func(c string) int { return wire.EditDistance(name, c) }
	}
	commands := []string{"run", "publish", "watch", "bench", "demo"}
	for _, tc := range []struct{ name, want string }{
		{"pubish", "publish"},
		{"wacth", "watch"},
		{"bemo", "demo"},
		{"pbsh", ""}, // three edits from publish: too far
		{"xy", ""},   // as many edits as letters
	} {
		if got := Nearest(tc.name, commands, edits(tc.name)); got != tc.want {
			t.Errorf("Nearest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := Nearest("ab", []string{"ac", "ad"}, edits("ab")); got != "" {
		t.Errorf("two as near: Nearest = %q, want none", got)
	}
}
