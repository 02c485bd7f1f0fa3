package main

// run's memory: the soft limit it works under (--memory-limit, GOMEMLIMIT,
// or below the memory limit of the cgroup, the container, it runs in),
// and the held-bytes budget sized from it.

import (
	"flag"
	"io/fs"
	"math"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
)

// noCgroupLimit is the smallest value taken as "no limit": cgroup v1
// reports an unlimited group as a huge page-aligned number.
const noCgroupLimit = 1 << 62

// cgroupMemoryLimit returns the memory limit of the cgroup this process
// runs in, read from root (the file system root: "/" in production), or 0
// when there is none or it cannot be read. It reads cgroup v2's
// memory.max, or cgroup v1's memory.limit_in_bytes, for the group named in
// /proc/self/cgroup and each of its parents, and takes the smallest: a
// parent's limit binds its children. Inside a container, where the group
// named is the host's and is not mounted, that leaves the mount's root,
// which is the container's own group.
func cgroupMemoryLimit(root fs.FS) int64 {
	groups, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(groups), "\n") {
		// hierarchy-ID:controller-list:cgroup-path
		fields := strings.SplitN(line, ":", 3)
		if len(fields) != 3 {
			continue
		}
		controllers, group := fields[1], strings.TrimPrefix(fields[2], "/")
		switch {
		case fields[0] == "0" && controllers == "":
			if limit := smallestLimit(root, "sys/fs/cgroup", group, "memory.max"); limit > 0 {
				return limit
			}
		case hasController(controllers, "memory"):
			return smallestLimit(root, "sys/fs/cgroup/memory", group, "memory.limit_in_bytes")
		}
	}
	return 0
}

// smallestLimit reads file in mount/group and in each of its parents up to
// mount, and returns the smallest limit set, or 0 when none is.
func smallestLimit(root fs.FS, mount, group, file string) int64 {
	smallest := int64(0)
	for {
		data, err := fs.ReadFile(root, path.Join(mount, group, file))
		if err == nil {
			limit, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64) // "max" is no limit
			if err == nil && limit > 0 && limit < noCgroupLimit && (smallest == 0 || limit < smallest) {
				smallest = limit
			}
		}
		if group == "" || group == "." {
			return smallest
		}
		group = path.Dir(group)
	}
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// defaultMemoryLimit is the soft memory limit run sets when neither
// --memory-limit nor GOMEMLIMIT gives one: 90 % of the cgroup's limit (a
// container's memory limit), so that the garbage collector works harder
// before the kernel's OOM killer steps in; 0 (none) outside a limited
// cgroup.
func defaultMemoryLimit(root fs.FS) int64 { return cgroupMemoryLimit(root) / 10 * 9 }

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
// --memory-limit when given (0 means none), else GOMEMLIMIT, else 90% of the
// container's (defaultMemoryLimit). setMemoryLimit applies it and
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
	return defaultMemoryLimit(os.DirFS("/"))
}

// flagGiven reports whether the flag name was set (on the command line,
// from the environment or a config file).
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
