package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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

// startBenchChild runs this binary's `run` with args and waits until it
// logs that it is consuming.
func startBenchChild(ctx context.Context, args ...string) (*benchChild, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"run", "--log-format", "text"}, args...)...)
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
	ready := make(chan struct{})
	go func() {
		scanner := bufio.NewScanner(stderr)
		signaled := false
		for scanner.Scan() {
			line := scanner.Text()
			if !signaled && strings.Contains(line, "fetchstream running") {
				close(ready)
				signaled = true
			}
			if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
				fmt.Fprintln(os.Stderr, "fetchstream run:", line)
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		c.exited <- cmd.Wait()
	}()
	select {
	case <-ready:
		return c, nil
	case err := <-c.exited:
		return nil, fmt.Errorf("fetchstream run exited before it was ready: %v", err)
	case <-time.After(15 * time.Second):
		c.stop()
		return nil, errors.New("fetchstream run was not ready within 15s")
	}
}

// peakRSS is the process's high-water resident set size in bytes.
func (c *benchChild) peakRSS() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
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
