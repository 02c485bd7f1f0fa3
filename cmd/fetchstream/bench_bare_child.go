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
	"sync"
	"time"
)

// bareChildEnv, when set in the environment of `fetchstream bench`, makes
// it a bare-client child instead (the way os/exec's own tests run helper
// processes). Its value is "URL,WORKERS".
const bareChildEnv = "FETCHSTREAM_BENCH_BARE_CLIENT"

// bareChild is a plain net/http client (see bareClient) in a process of
// its own, as the service is: the baseline that meets the same process
// boundaries as the pipeline, and whose memory can be read on its own. It
// keeps its keep-alive pool between runs. It is driven over its standard
// input, one command a line: "run N" makes N GETs of its URL and answers
// "ok NANOSECONDS"; "rss" answers its peak RSS in bytes. It exits when its
// input is closed.
type bareChild struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner

	stopOnce sync.Once
	exit     error
}

// startBareChild starts a bare client of url with workers goroutines, from
// binary or, when binary is "", from this executable.
func startBareChild(ctx context.Context, binary, url string, workers int) (*bareChild, error) {
	binary, err := binaryOrSelf(binary)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, binary, "bench")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", bareChildEnv, url, workers))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &bareChild{cmd: cmd, in: in, out: bufio.NewScanner(out)}, nil
}

// ask sends one command and returns the answer.
func (b *bareChild) ask(command string) (string, error) {
	if _, err := fmt.Fprintln(b.in, command); err != nil {
		return "", fmt.Errorf("bare client child: %w", err)
	}
	if !b.out.Scan() {
		if err := b.out.Err(); err != nil {
			return "", fmt.Errorf("bare client child gave no answer to %q: %w", command, err)
		}
		return "", fmt.Errorf("bare client child exited before it answered %q: %v", command, b.stop())
	}
	answer := b.out.Text()
	if rest, ok := strings.CutPrefix(answer, "error "); ok {
		return "", fmt.Errorf("bare client child: %s", rest)
	}
	return answer, nil
}

// run makes n GETs and returns how long they took, as the child timed it.
func (b *bareChild) run(n int) (time.Duration, error) {
	answer, err := b.ask(fmt.Sprintf("run %d", n))
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseInt(strings.TrimPrefix(answer, "ok "), 10, 64)
	return time.Duration(ns), err
}

// peakRSS is the child's high-water resident set size in bytes.
func (b *bareChild) peakRSS() (int64, error) {
	answer, err := b.ask("rss")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(answer, 10, 64)
}

// cpuTime is the CPU time the child has used so far.
func (b *bareChild) cpuTime() (time.Duration, error) { return processCPUTime(b.cmd.Process.Pid) }

// stop closes the child's input, waits for it to exit, and returns how
// it exited: the same error however many times it is called.
func (b *bareChild) stop() error {
	b.stopOnce.Do(func() {
		_ = b.in.Close()
		b.exit = b.cmd.Wait()
	})
	return b.exit
}

// runBareChild is the child's side: spec is "URL,WORKERS" (the URL may
// hold commas), commands come from in and answers go to out.
func runBareChild(ctx context.Context, spec string, in io.Reader, out io.Writer) error {
	i := strings.LastIndexByte(spec, ',')
	workers, err := strconv.Atoi(spec[i+1:])
	if i < 0 || err != nil || workers < 1 {
		return fmt.Errorf("%s=%q: want URL,WORKERS", bareChildEnv, spec)
	}
	url := spec[:i]
	client := newBareClient(workers)
	defer client.close()
	commands := bufio.NewScanner(in)
	for commands.Scan() {
		var answer string
		switch command := commands.Text(); {
		case command == "rss":
			peak, err := readPeakRSS(os.Getpid())
			answer = fmt.Sprint(peak)
			if err != nil {
				answer = "error " + err.Error()
			}
		case strings.HasPrefix(command, "run "):
			n, err := strconv.Atoi(strings.TrimPrefix(command, "run "))
			var took time.Duration
			if err == nil {
				took, err = client.run(ctx, url, n)
			}
			answer = fmt.Sprintf("ok %d", took.Nanoseconds())
			if err != nil {
				answer = "error " + err.Error()
			}
		default:
			answer = "error unknown command " + strconv.Quote(command)
		}
		if _, err := fmt.Fprintln(out, answer); err != nil {
			return err
		}
	}
	return errors.Join(commands.Err(), ctx.Err())
}

// bareChildRate is the rate, in requests per second, of a fresh bare
// client in a process of its own over n GETs of url with workers workers.
func bareChildRate(ctx context.Context, url string, n, workers int) (float64, error) {
	child, err := startBareChild(ctx, "", url, workers)
	if err != nil {
		return 0, err
	}
	defer child.stop()
	took, err := child.run(n)
	if err != nil {
		return 0, err
	}
	return float64(n) / took.Seconds(), nil
}
