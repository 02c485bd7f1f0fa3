package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// The transports of ClientConfig.Transport.
const (
	// TunedTransport is the bench's yardstick, issue 24's client:
	// exactly http.Transport{MaxIdleConnsPerHost: W, MaxIdleConns: W}
	// for W workers (an idle connection kept per worker, so none
	// re-dials), every other field at its default (4 KiB connection
	// buffers, where the service's transport has 1 KiB write and 2 KiB
	// read: see httpfetch.New).
	TunedTransport = "tuned"
	// PlainTransport is http.Client{} with its defaults: what a Go
	// programmer writes first, and the yardstick of issue 17. It keeps 2
	// idle connections per host, so 64 workers keep dialing: it is
	// reported on a second line, labelled "plain".
	PlainTransport = "plain"
)

// ClientConfig is a yardstick client: Workers goroutines making GETs of
// URL through one http.Client, reading each body to the end.
type ClientConfig struct {
	URL       string
	Workers   int    // at least 1
	Transport string // TunedTransport or PlainTransport
}

func (c ClientConfig) validate() error {
	switch {
	case !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://"):
		return fmt.Errorf("%w: URL %q: want an http or https URL", ErrConfig, c.URL)
	case c.Workers < 1:
		return fmt.Errorf("%w: Workers must be at least 1", ErrConfig)
	case c.Transport != TunedTransport && c.Transport != PlainTransport:
		return fmt.Errorf("%w: Transport %q: want %s or %s", ErrConfig, c.Transport, TunedTransport, PlainTransport)
	}
	return nil
}

// ServeClient is the client child's side, `fetchstream bench client`: it
// validates cfg, then reads commands from in, one a line, and answers each
// on out, one line, until in is closed or ctx is canceled:
//
//	run N   makes N GETs of the URL; answers "ok NANOSECONDS" (wall time)
//	rss     answers the process's peak RSS in bytes
//
// A command that fails is answered "error MESSAGE", and the child goes on.
// The keep-alive pool is kept between runs.
func ServeClient(ctx context.Context, cfg ClientConfig, in io.Reader, out io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	client := newClient(cfg)
	defer client.CloseIdleConnections()
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
				took, err = getMany(ctx, client, cfg.URL, n, cfg.Workers)
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

func newClient(cfg ClientConfig) *http.Client {
	if cfg.Transport == PlainTransport {
		return &http.Client{}
	}
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Workers, MaxIdleConns: cfg.Workers}}
}

// getMany makes n GETs of url with workers goroutines and returns how
// long they took; the first error stops them all.
func getMany(ctx context.Context, client *http.Client, url string, n, workers int) (time.Duration, error) {
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	start := time.Now()
	for range workers {
		g.Go(func() error {
			for next.Add(1) <= int64(n) {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if err != nil {
					return err
				}
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// clientChild is a yardstick client in a process of its own, as the
// service is: it meets the same process boundaries as the pipeline, and
// its memory and CPU time can be read on their own. It is
// `fetchstream bench client`, driven over its standard input (see
// ServeClient); it exits when its input is closed.
type clientChild struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner

	stopOnce sync.Once
	exit     error
}

// startClient starts `binary bench client` with cfg.
func startClient(ctx context.Context, binary string, cfg ClientConfig) (*clientChild, error) {
	cmd := exec.CommandContext(ctx, binary, "bench", "client", "--url", cfg.URL,
		"--workers", strconv.Itoa(cfg.Workers), "--transport", cfg.Transport)
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
	return &clientChild{cmd: cmd, in: in, out: bufio.NewScanner(out)}, nil
}

// ask sends one command and returns the answer.
func (c *clientChild) ask(command string) (string, error) {
	if _, err := fmt.Fprintln(c.in, command); err != nil {
		return "", fmt.Errorf("client child: %w", err)
	}
	if !c.out.Scan() {
		if err := c.out.Err(); err != nil {
			return "", fmt.Errorf("client child gave no answer to %q: %w", command, err)
		}
		return "", fmt.Errorf("client child exited before it answered %q: %v", command, c.stop())
	}
	answer := c.out.Text()
	if rest, ok := strings.CutPrefix(answer, "error "); ok {
		return "", fmt.Errorf("client child: %s", rest)
	}
	return answer, nil
}

// run makes n GETs and returns how long they took, as the child timed it.
func (c *clientChild) run(n int) (time.Duration, error) {
	answer, err := c.ask(fmt.Sprintf("run %d", n))
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseInt(strings.TrimPrefix(answer, "ok "), 10, 64)
	return time.Duration(ns), err
}

// measure is run with the CPU time the child spent on it.
func (c *clientChild) measure(n int) (wall, cpu time.Duration, err error) {
	before, err := c.cpuTime()
	if err != nil {
		return 0, 0, err
	}
	if wall, err = c.run(n); err != nil {
		return 0, 0, err
	}
	after, err := c.cpuTime()
	return wall, after - before, err
}

// peakRSS is the child's high-water resident set size in bytes.
func (c *clientChild) peakRSS() (int64, error) {
	answer, err := c.ask("rss")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(answer, 10, 64)
}

// cpuTime is the CPU time the child has used so far.
func (c *clientChild) cpuTime() (time.Duration, error) { return processCPUTime(c.cmd.Process.Pid) }

// stop closes the child's input, waits for it to exit, and returns how
// it exited: the same error however many times it is called.
func (c *clientChild) stop() error {
	c.stopOnce.Do(func() {
		_ = c.in.Close()
		c.exit = c.cmd.Wait()
	})
	return c.exit
}
