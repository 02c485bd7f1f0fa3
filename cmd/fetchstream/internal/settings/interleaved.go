package settings

import (
	"flag"
	"strings"
)

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
