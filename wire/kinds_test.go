package wire

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// The lists are the closed sets: every ErrorKind constant declared in
// wire.go is in exactly one of them, so a kind added without listing it
// (and so without a metric series) fails here.
func TestErrorKindListsAreTheDeclaredKinds(t *testing.T) {
	src, err := os.ReadFile("wire.go")
	if err != nil {
		t.Fatal(err)
	}
	declared := regexp.MustCompile(`(?m)^\s+Err\w+\s+ErrorKind = "([a-z_]+)"`).FindAllSubmatch(src, -1)
	listed := append(URLErrorKinds(), BatchErrorKinds()...)
	if len(declared) != len(listed) {
		t.Errorf("%d kinds declared, %d listed", len(declared), len(listed))
	}
	for _, m := range declared {
		if n := slices.Index(listed, ErrorKind(m[1])); n < 0 {
			t.Errorf("kind %q is declared but in neither list", m[1])
		}
	}
}
