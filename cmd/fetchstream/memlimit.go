package main

import (
	"bufio"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// noCgroupLimit is the smallest value taken as "no limit": cgroup v1
// reports an unlimited group as a huge page-aligned number.
const noCgroupLimit = 1 << 62

// cgroupMemoryLimit returns the memory limit of the cgroup this process
// runs in, read from root (the file system root: "/" in production), or 0
// when there is none or it cannot be read. It reads cgroup v2's
// memory.max, or cgroup v1's memory.limit_in_bytes, at the group's path
// from /proc/self/cgroup and, inside a container (where that path is the
// host's), at the mount's root.
func cgroupMemoryLimit(root fs.FS) int64 {
	groups, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0
	}
	var candidates []string
	scanner := bufio.NewScanner(strings.NewReader(string(groups)))
	for scanner.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		fields := strings.SplitN(scanner.Text(), ":", 3)
		if len(fields) != 3 {
			continue
		}
		controllers, group := fields[1], strings.TrimPrefix(fields[2], "/")
		switch {
		case fields[0] == "0" && controllers == "":
			candidates = append(candidates, path.Join("sys/fs/cgroup", group, "memory.max"), "sys/fs/cgroup/memory.max")
		case hasController(controllers, "memory"):
			candidates = append(candidates, path.Join("sys/fs/cgroup/memory", group, "memory.limit_in_bytes"),
				"sys/fs/cgroup/memory/memory.limit_in_bytes")
		}
	}
	for _, name := range candidates {
		data, err := fs.ReadFile(root, name)
		if err != nil {
			continue
		}
		value := strings.TrimSpace(string(data))
		if value == "max" {
			return 0
		}
		limit, err := strconv.ParseInt(value, 10, 64)
		if err != nil || limit <= 0 || limit >= noCgroupLimit {
			return 0
		}
		return limit
	}
	return 0
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
