// Command fetchstream fetches batches of URLs that arrive on a NATS
// subject, with bounded parallelism, a timeout per request and every
// failure mapped to a structured error, and publishes the results in batch
// order. Its subcommands run the service (run), send batches and follow
// their results (publish), serve local test endpoints (target), show the
// whole thing offline (demo), measure it (bench) and check a container's
// health (health).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/peterbourgon/ff/v3/ffcli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes of Main.
const (
	exitOK       = 0
	exitError    = 1 // a bad flag, a failed start, or a shutdown that cut work short
	exitFailures = 2 // publish --wait: the batch ran, and some URLs failed
)

// errSomeFailed is returned by commands whose work ran but found failures.
var errSomeFailed = errors.New("some URLs failed")

// Main runs the command line args (without the program name) until done
// or until ctx is canceled, and returns the process exit code. Tests call
// it as the real program runs.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &ffcli.Command{
		Name:       "fetchstream",
		ShortUsage: "fetchstream <run|publish|watch|target|demo|bench|health> [flags]",
		LongHelp: "fetchstream fetches batches of URLs from NATS with bounded parallelism and " +
			"publishes ordered, structured results.\nRun 'fetchstream <command> -h' for a command's flags.",
		FlagSet: flag.NewFlagSet("fetchstream", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			runCommand(stdout, stderr),
			publishCommand(stdout, stderr),
			targetCommand(stdout, stderr),
			watchCommand(stdout, stderr),
			demoCommand(stdout, stderr),
			benchCommand(stdout, stderr),
			healthCommand(stdout, stderr),
		},
		Exec: func(context.Context, []string) error { return flag.ErrHelp },
	}
	setOutput(root, stderr)
	err := root.ParseAndRun(ctx, args)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		if len(args) == 0 {
			fmt.Fprintln(stderr, ffcli.DefaultUsageFunc(root))
		}
		return exitOK
	case errors.Is(err, errSomeFailed):
		return exitFailures
	}
	fmt.Fprintf(stderr, "fetchstream: %v\n", err)
	return exitError
}

func setOutput(c *ffcli.Command, w io.Writer) {
	c.FlagSet.SetOutput(w)
	for _, sub := range c.Subcommands {
		setOutput(sub, w)
	}
}
