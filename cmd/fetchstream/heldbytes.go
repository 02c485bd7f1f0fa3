package main

import (
	"flag"
	"math"
	"os"
	"runtime/debug"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/memlimit"
)

// sizeHeldBytes sets the service's Fetch.MaxHeldBytes, unless
// --max-held-bytes is given, to a quarter of the memory limit the process
// runs under: --memory-limit when given (0: none), else GOMEMLIMIT, else
// the container's (memlimit.Default). Without any, the service's
// default (service.DefaultMaxHeldBytes) stays.
func sizeHeldBytes(fs *flag.FlagSet, r *runFlags) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["max-held-bytes"] {
		return
	}
	if limit := memoryLimitOf(given["memory-limit"], int64(r.memoryLimit)); limit > 0 {
		r.cfg.Fetch.MaxHeldBytes = limit / 4
	}
}

// memoryLimitOf is the soft memory limit run will set (see
// setMemoryLimit), or 0 for none.
func memoryLimitOf(flagGiven bool, flagValue int64) int64 {
	switch {
	case flagGiven:
		return flagValue
	case os.Getenv("GOMEMLIMIT") != "":
		if limit := debug.SetMemoryLimit(-1); limit < math.MaxInt64 {
			return limit
		}
		return 0
	}
	return memlimit.Default(os.DirFS("/"))
}
