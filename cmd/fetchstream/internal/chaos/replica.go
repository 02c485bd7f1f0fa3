package chaos

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// replica is a `fetchstream run` process, kept running as a container
// with a restart policy would be: when it exits without having been
// killed on purpose, the exit is recorded and it is started again a
// second later. Its logs (JSON) go to one file over all its lives. Safe
// for concurrent use.
type replica struct {
	name string
	bin  string
	args []string
	ops  string // its --metrics-addr
	log  string

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	starts   int
	exits    []string // unexpected exits: code and the last error it logged
	closing  bool
	stopping bool // a kill on purpose is under way
}

func newReplica(name, bin, logPath, ops string, args []string) *replica {
	return &replica{name: name, bin: bin, ops: ops, log: logPath,
		args: append([]string{"run", "--log-format", "json", "--metrics-addr", ops}, args...)}
}

// start starts the process; it does nothing if it runs.
func (r *replica) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil || r.closing {
		return nil
	}
	cmd, wait, err := startLogged(r.name, r.bin, r.args, r.log)
	if err != nil {
		return err
	}
	r.starts++
	exited := make(chan struct{})
	r.cmd, r.exited = cmd, exited
	go func() {
		wait()
		r.mu.Lock()
		unexpected := !r.stopping && !r.closing
		if r.cmd == cmd {
			r.cmd = nil
		}
		if unexpected {
			r.exits = append(r.exits, fmt.Sprintf("exit %d: %s", cmd.ProcessState.ExitCode(), lastError(r.log)))
		}
		r.mu.Unlock()
		close(exited)
		if unexpected {
			time.Sleep(time.Second)
			_ = r.start()
		}
	}()
	return nil
}

// kill9 kills the process with SIGKILL and waits until it is gone; it
// stays down until start.
func (r *replica) kill9() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.stopping = true
	r.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
	r.mu.Lock()
	r.stopping = false
	r.mu.Unlock()
}

// signal sends sig (SIGSTOP, SIGCONT) to the running process.
func (r *replica) signal(sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return fmt.Errorf("%s is not running", r.name)
	}
	return r.cmd.Process.Signal(sig)
}

// close kills the process for good.
func (r *replica) close() {
	r.mu.Lock()
	r.closing = true
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
}

// waitReady waits until /readyz answers 200 (the replica consumes).
func (r *replica) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for !healthy(ctx, "http://"+r.ops+"/readyz") {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s", r.name, timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// unexpectedExits returns the exits it was not killed for.
func (r *replica) unexpectedExits() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.exits...)
}

func (r *replica) startCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.starts
}

// metrics reads the process's resident memory and goroutines from its
// /metrics (client_golang's process and Go collectors).
func (r *replica) metrics(ctx context.Context) (rss, goroutines float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.ops+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, 0, err
	}
	rss, err1 := gauge(body, "process_resident_memory_bytes")
	goroutines, err2 := gauge(body, "go_goroutines")
	if err1 != nil {
		return 0, 0, err1
	}
	return rss, goroutines, err2
}

// gauge finds an unlabelled sample of name in a Prometheus text exposition.
func gauge(body []byte, name string) (float64, error) {
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte(name+" ")); ok {
			return strconv.ParseFloat(string(bytes.TrimSpace(rest)), 64)
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}

// lastError is the last line of path logged at ERROR, or written
// without the JSON log's form (what the command prints as it exits).
func lastError(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	last := "(no error logged)"
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.Contains(line, `"level":"ERROR"`) || (line != "" && !strings.HasPrefix(line, "{")) {
			last = line
		}
	}
	return last
}

// dumpGoroutines writes the process's goroutine profile (debug=1) to
// path, when it serves one (run with --pprof); otherwise it does nothing.
func (r *replica) dumpGoroutines(ctx context.Context, path string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.ops+"/debug/pprof/goroutine?debug=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	if body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20)); err == nil {
		_ = os.WriteFile(path, body, 0o644)
	}
}
