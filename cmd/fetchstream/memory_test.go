package main

import (
	"testing"
	"testing/fstest"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
)

func TestCgroupMemoryLimit(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		want  int64
	}{
		{"no cgroup file", fstest.MapFS{}, 0},
		{"v2 in a container", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("536870912\n"),
		}, 536870912},
		{"v2 unlimited", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("max\n"),
		}, 0},
		{"v2 nested group on the host", fstest.MapFS{
			"proc/self/cgroup": file("0::/system.slice/app.service\n"),
			"sys/fs/cgroup/system.slice/app.service/memory.max": file("1073741824\n"),
		}, 1073741824},
		{"v2, no limit on the group but one on its parent", fstest.MapFS{
			"proc/self/cgroup":                          file("0::/kubepods/pod1/c1\n"),
			"sys/fs/cgroup/kubepods/pod1/c1/memory.max": file("max\n"),
			"sys/fs/cgroup/kubepods/pod1/memory.max":    file("805306368\n"),
			"sys/fs/cgroup/kubepods/memory.max":         file("max\n"),
		}, 805306368},
		{"v2, the smallest of the group and its parents", fstest.MapFS{
			"proc/self/cgroup":             file("0::/a/b\n"),
			"sys/fs/cgroup/a/b/memory.max": file("2000\n"),
			"sys/fs/cgroup/a/memory.max":   file("1000\n"),
		}, 1000},
		{"v1, the host's path not mounted in the container", fstest.MapFS{
			"proc/self/cgroup":                           file("12:pids:/docker/abc\n4:memory:/docker/abc\n1:cpu,cpuacct:/docker/abc\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("268435456\n"),
		}, 268435456},
		{"v1 unlimited", fstest.MapFS{
			"proc/self/cgroup":                           file("4:memory:/\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("9223372036854771712\n"),
		}, 0},
		{"garbage", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("lots\n"),
		}, 0},
	} {
		if got := cgroupMemoryLimit(tc.files); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := defaultMemoryLimit(fstest.MapFS{"proc/self/cgroup": file("0::/\n"),
		"sys/fs/cgroup/memory.max": file("1000\n")}); got != 900 {
		t.Errorf("default limit: got %d, want 90%% of 1000", got)
	}
}

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
