// Package memlimit finds the memory limit of the cgroup (the container)
// a process runs in, for `fetchstream run` to set a soft memory limit
// below it.
package memlimit

import (
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// noCgroupLimit is the smallest value taken as "no limit": cgroup v1
// reports an unlimited group as a huge page-aligned number.
const noCgroupLimit = 1 << 62

// Cgroup returns the memory limit of the cgroup this process
// runs in, read from root (the file system root: "/" in production), or 0
// when there is none or it cannot be read. It reads cgroup v2's
// memory.max, or cgroup v1's memory.limit_in_bytes, for the group named in
// /proc/self/cgroup and each of its parents, and takes the smallest: a
// parent's limit binds its children. Inside a container, where the group
// named is the host's and is not mounted, that leaves the mount's root,
// which is the container's own group.
func Cgroup(root fs.FS) int64 {
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

// Default is the soft memory limit run sets when neither
// --memory-limit nor GOMEMLIMIT gives one: 90 % of the cgroup's limit (a
// container's memory limit), so that the garbage collector works harder
// before the kernel's OOM killer steps in; 0 (none) outside a limited
// cgroup.
func Default(root fs.FS) int64 { return Cgroup(root) / 10 * 9 }
