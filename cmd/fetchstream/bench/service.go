package bench

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
	"strings"
	"syscall"
	"time"
)

// serviceChild is a `fetchstream run` process started by the bench, so
// that its memory and CPU time can be read on their own and it competes
// for the CPU as a real deployment does.
type serviceChild struct {
	cmd    *exec.Cmd
	exited chan error
}

// startService runs `run` with args from binary, with its ops endpoint
// on a free loopback port, and waits until its /readyz says it is
// consuming. Canceling ctx stops it with SIGTERM.
func startService(ctx context.Context, binary string, args ...string) (*serviceChild, error) {
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
	c := &serviceChild{cmd: cmd, exited: make(chan error, 1)}
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

// peakRSS is the process's high-water resident set size in bytes.
func (c *serviceChild) peakRSS() (int64, error) { return readPeakRSS(c.cmd.Process.Pid) }

// stop sends SIGTERM and waits for the exit.
func (c *serviceChild) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(40 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// cpuTime is the CPU time (user and system) the service has used so far.
func (c *serviceChild) cpuTime() (time.Duration, error) { return processCPUTime(c.cmd.Process.Pid) }
