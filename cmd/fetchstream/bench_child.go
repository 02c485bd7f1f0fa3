package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// benchChild is a `fetchstream run` process started by the bench, so that
// its memory can be read on its own and it competes for the CPU as a real
// deployment does.
type benchChild struct {
	cmd    *exec.Cmd
	exited chan error
}

// startBenchChild runs `run` with args, from binary or, when binary is
// "", from this executable, with its ops endpoint on a free loopback port,
// and waits until its /readyz says it is consuming.
func startBenchChild(ctx context.Context, binary string, args ...string) (*benchChild, error) {
	binary, err := binaryOrSelf(binary)
	if err != nil {
		return nil, err
	}
	ops, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, binary, append([]string{"run", "--log-format", "text", "--metrics-addr", ops}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &benchChild{cmd: cmd, exited: make(chan error, 1)}
	go func() {
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			line := scanner.Text()
			if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
				fmt.Fprintln(os.Stderr, "fetchstream run:", line)
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		c.exited <- cmd.Wait()
	}()
	readyz := "http://" + ops + "/readyz"
	deadline := time.After(15 * time.Second)
	for {
		if isReady(ctx, readyz) {
			return c, nil
		}
		select {
		case err := <-c.exited:
			return nil, fmt.Errorf("fetchstream run exited before it was ready: %v", err)
		case <-deadline:
			c.stop()
			return nil, errors.New("fetchstream run was not ready within 15s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freeLoopbackAddr is a loopback address whose port was free a moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// isReady says whether GET url answers 200.
func isReady(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// binaryOrSelf is binary, or this executable when binary is "".
func binaryOrSelf(binary string) (string, error) {
	if binary != "" {
		return binary, nil
	}
	return os.Executable()
}

// peakRSS is the process's high-water resident set size in bytes.
func (c *benchChild) peakRSS() (int64, error) { return readPeakRSS(c.cmd.Process.Pid) }

// readPeakRSS reads a process's high-water resident set size, in bytes,
// from /proc/<pid>/status (VmHWM).
func readPeakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// stop sends SIGTERM and waits for the exit.
func (c *benchChild) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(40 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// cpuTime is the CPU time (user and system) the service has used so far.
func (c *benchChild) cpuTime() (time.Duration, error) { return processCPUTime(c.cmd.Process.Pid) }

// selfCPUTime is the CPU time this process has used so far, or 0 where
// /proc cannot tell.
func selfCPUTime() time.Duration {
	d, _ := processCPUTime(os.Getpid())
	return d
}

// clockTicks is the unit of /proc/<pid>/stat times (USER_HZ, 100 on Linux).
const clockTicks = 100

// processCPUTime reads utime and stime from /proc/<pid>/stat.
func processCPUTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// count fields from the last ')'. utime and stime are fields 14 and 15.
	end := strings.LastIndexByte(string(data), ')')
	fields := strings.Fields(string(data[end+1:]))
	if end < 0 || len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}
