package settings

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

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
