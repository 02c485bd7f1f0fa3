// Command fetchstream fetches batches of URLs that arrive on a NATS
// subject, with bounded parallelism, a timeout per request and every
// failure mapped to a structured error, and publishes the results in batch
// order. Its subcommands run the service (run), send batches and follow
// their results (publish), serve local test endpoints (target), show the
// whole thing offline (demo), measure it (bench) and check a container's
// health (health).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/shutdown"
)

func main() {
	ctx, second := shutdown.Notify(os.Interrupt, syscall.SIGTERM)
	os.Exit(Main(shutdown.WithCutShort(ctx, second), os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes of Main.
const (
	exitOK       = 0
	exitError    = 1 // a bad flag, a failed start, or a shutdown that cut work short
	exitFailures = 2 // publish --wait: the batch ran, and some URLs failed
)

// errSomeFailed is returned by commands whose work ran but found failures.
var errSomeFailed = errors.New("some URLs failed")

// errUnknownCommand is returned for a first argument that names no
// subcommand.
var errUnknownCommand = errors.New("unknown command")

// Main runs the command line args (without the program name) until done
// or until ctx is canceled, and returns the process exit code. Tests call
// it as the real program runs.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := rootCommand(stdout, stderr)
	// The flag package writes a parse error and the whole usage to the
	// flag sets' output: the usage is shown for -h alone, and an error as
	// one line with the form wanted (see settings.Explain).
	var usage bytes.Buffer
	setOutput(root, &usage)
	err := root.ParseAndRun(ctx, args)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		if len(args) == 0 {
			fmt.Fprintln(stderr, ffcli.DefaultUsageFunc(root))
		}
		_, _ = stderr.Write(usage.Bytes())
		return exitOK
	case errors.Is(err, errSomeFailed):
		return exitFailures
	case errors.Is(err, errUnknownCommand):
		fmt.Fprintf(stderr, "fetchstream: %v\n%s\n", err, ffcli.DefaultUsageFunc(root))
		return exitError
	}
	fs := flagSetOf(root, args)
	// A fresh copy of the command's flags tells which ones hold the value
	// of their FETCHSTREAM_ variable (see inEnvTerms).
	probe := flagSetOf(rootCommand(io.Discard, io.Discard), args)
	fmt.Fprintf(stderr, "fetchstream: %s\n", withoutClientPrefix(inEnvTerms(fs, probe, settings.Explain(fs, err))))
	return exitError
}

// clientPrefix is the prefix of the Go client's errors (wire/client),
// which the CLI's own "fetchstream: " says already.
const clientPrefix = "fetchstream client: "

// withoutClientPrefix is err's message without the client's prefix, so
// that the line reads "fetchstream: " once.
func withoutClientPrefix(err error) string {
	return strings.ReplaceAll(err.Error(), clientPrefix, "")
}

// flagSetOf is the flag set of the subcommand args name, or root's.
func flagSetOf(root *ffcli.Command, args []string) *flag.FlagSet {
	if len(args) > 0 {
		for _, sub := range root.Subcommands {
			if sub.Name == args[0] {
				return sub.FlagSet
			}
		}
	}
	return root.FlagSet
}

func setOutput(c *ffcli.Command, w io.Writer) {
	c.FlagSet.SetOutput(w)
	for _, sub := range c.Subcommands {
		setOutput(sub, w)
	}
}

// rootCommand is the fetchstream command with its subcommands.
func rootCommand(stdout, stderr io.Writer) *ffcli.Command {
	return &ffcli.Command{
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
		Exec: func(_ context.Context, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("%w %q", errUnknownCommand, args[0])
			}
			return flag.ErrHelp
		},
	}
}
