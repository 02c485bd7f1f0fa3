package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
)

// The fetchstream binary, built once for the package's tests.
var binary loadtest.Binary

func TestMain(m *testing.M) { os.Exit(binary.Run(m)) }

// proc is a `fetchstream run` process.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
	code   int
	readyz string // its ops endpoint's /readyz
}

// startProc runs `fetchstream run` against natsURL with loopback targets
// allowed and JSON logs, waits until it is consuming (its /readyz answers
// 200), and kills it when the test ends if it is still running.
func startProc(t *testing.T, name, natsURL string, args ...string) *proc {
	t.Helper()
	p := launchProc(t, name, natsURL, args...)
	p.waitReady(20 * time.Second)
	return p
}

// launchProc is startProc without the wait.
func launchProc(t *testing.T, name, natsURL string, args ...string) *proc {
	t.Helper()
	ops := fmt.Sprintf("127.0.0.1:%d", natstest.UnusedFixedPort(t))
	argv := append([]string{"run", "--nats-url", natsURL, "--allow-net", "127.0.0.0/8", "--log-format", "json",
		"--metrics-addr", ops}, args...)
	cmd := exec.Command(binary.Path(t), argv...)
	p := &proc{t: t, name: name, cmd: cmd, logs: &syncBuffer{}, exited: make(chan struct{}), readyz: "http://" + ops + "/readyz"}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			p.code = -1
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, p.logs)
		}
	})
	return p
}

// waitLog waits until the process has logged text.
func (p *proc) waitLog(text string, timeout time.Duration) {
	p.t.Helper()
	for deadline := time.Now().Add(timeout); !strings.Contains(p.logs.String(), text); time.Sleep(10 * time.Millisecond) {
		select {
		case <-p.exited:
			p.t.Fatalf("%s exited with %d before logging %q; logs:\n%s", p.name, p.code, text, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not log %q within %s; logs:\n%s", p.name, text, timeout, p.logs)
		}
	}
}

// waitReady waits until the process's /readyz answers 200: it consumes.
func (p *proc) waitReady(timeout time.Duration) {
	p.t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get(p.readyz); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			p.t.Fatalf("%s exited with %d before it was ready; logs:\n%s", p.name, p.code, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s was not ready within %s; logs:\n%s", p.name, timeout, p.logs)
		}
	}
}

// kill9 kills the process at once, as kill -9 does.
func (p *proc) kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatal(err)
	}
	<-p.exited
}

// stop sends sig and returns the exit code, failing after timeout.
func (p *proc) stop(sig os.Signal, timeout time.Duration) int {
	p.t.Helper()
	p.signal(sig)
	return p.wait(timeout)
}

// signal sends sig to the running process.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: signal %v: %v", p.name, sig, err)
	}
}

// wait returns the exit code, failing if the process runs past timeout.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %s; logs:\n%s", p.name, timeout, p.logs)
	}
	return -1
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// batchesDone counts the batches the process logged as done.
func (p *proc) batchesDone() int { return strings.Count(p.logs.String(), `"msg":"batch done"`) }
