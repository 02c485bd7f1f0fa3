package main

import (
	"testing"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
)

// --max-held-bytes defaults to a quarter of --memory-limit when that is
// given; given itself, or with --memory-limit 0 (none), it is left alone.
func TestMaxHeldBytesSizedFromTheMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	for _, tc := range []struct {
		args []string
		want int64
	}{
		{[]string{"--memory-limit", "400MiB"}, 100 << 20},
		{[]string{"--memory-limit", "400MiB", "--max-held-bytes", "1MiB"}, 1 << 20},
		{[]string{"--memory-limit", "0"}, service.DefaultMaxHeldBytes},
		{[]string{"--max-held-bytes", "0"}, 0},
	} {
		var flags runFlags
		fs := parseRunFlags(t, &flags, tc.args...)
		sizeHeldBytes(fs, &flags, memoryLimitOf(fs, &flags))
		if got := flags.cfg.Fetch.MaxHeldBytes; got != tc.want {
			t.Errorf("%v: max held bytes %d, want %d", tc.args, got, tc.want)
		}
	}
}
