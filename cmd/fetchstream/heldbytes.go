package main

import (
	"flag"
	"math"
	"os"
	"runtime/debug"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/memlimit"
)

// sizeHeldBytes sets the service's Fetch.MaxHeldBytes, unless
// --max-held-bytes is given, to a quarter of memoryLimit, the limit the
// process runs under (see memoryLimitOf). Without one (0), the service's
// default (service.DefaultMaxHeldBytes) stays.
func sizeHeldBytes(fs *flag.FlagSet, r *runFlags, memoryLimit int64) {
	if !flagGiven(fs, "max-held-bytes") && memoryLimit > 0 {
		r.cfg.Fetch.MaxHeldBytes = memoryLimit / 4
	}
}

// memoryLimitOf is the soft memory limit run works under, or 0 for none:
// --memory-limit when given (0: none), else GOMEMLIMIT, else 90% of the
// container's (memlimit.Default). setMemoryLimit applies it and
// sizeHeldBytes sizes the held-bytes budget from it.
func memoryLimitOf(fs *flag.FlagSet, r *runFlags) int64 {
	switch {
	case flagGiven(fs, "memory-limit"):
		return int64(r.memoryLimit)
	case os.Getenv("GOMEMLIMIT") != "":
		if limit := debug.SetMemoryLimit(-1); limit < math.MaxInt64 {
			return limit
		}
		return 0
	}
	return memlimit.Default(os.DirFS("/"))
}

// flagGiven reports whether the flag name was set (on the command line,
// from the environment or a config file).
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
