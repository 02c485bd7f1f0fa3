// Command fetchstream fetches batches of URLs that arrive on a NATS
// subject, with bounded parallelism, a timeout per request and every
// failure mapped to a structured error, and publishes the results in batch
// order. Its subcommands run the service (run), send batches and follow
// their results (publish), print what passes (watch), serve local test
// endpoints (target), show the whole thing offline (demo), measure it
// (bench), check a container's health (health), and print a command's
// usage (help) and the build's version (version).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
)

func main() {
	ctx, second := notifyShutdown(os.Interrupt, syscall.SIGTERM)
	os.Exit(Main(withCutShort(ctx, second), os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes of Main.
const (
	exitOK       = 0
	exitError    = 1 // a bad flag or command, a failed start, or a shutdown that cut work short
	exitFailures = 2 // publish --wait: the batch ran, and some URLs failed
	exitUsage    = 2 // no command at all: the usage on stderr, as go does
)

// errSomeFailed is returned by commands whose work ran but found failures.
var errSomeFailed = errors.New("some URLs failed")

// errUnknownCommand is returned for a first argument that names no
// subcommand.
var errUnknownCommand = errors.New("unknown command")

// errNoCommand is returned when no subcommand is given.
var errNoCommand = errors.New("no command")

// Main runs the command line args (without the program name) until done
// or until ctx is canceled, and returns the process exit code. Tests call
// it as the real program runs. The usage asked for (-h, --help, help)
// goes to stdout, so that it can be read with a pager or grep; errors,
// and the usage of a command line with no command, go to stderr.
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
		_, _ = stdout.Write(usage.Bytes())
		return exitOK
	case errors.Is(err, errNoCommand):
		fmt.Fprintln(stderr, ffcli.DefaultUsageFunc(root))
		return exitUsage
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
	root := &ffcli.Command{
		Name:       "fetchstream",
		ShortUsage: "fetchstream <run|publish|schedule|watch|target|demo|bench|health|help|version> [flags]",
		LongHelp: "fetchstream fetches batches of URLs from NATS with bounded parallelism and " +
			"publishes ordered, structured results.\nRun 'fetchstream <command> -h' or 'fetchstream help <command>' for a command's flags.",
		FlagSet: flag.NewFlagSet("fetchstream", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			runCommand(stdout, stderr),
			publishCommand(stdout, stderr),
			scheduleCommand(stdout, stderr),
			targetCommand(stdout, stderr),
			watchCommand(stdout, stderr),
			demoCommand(stdout, stderr),
			benchCommand(stdout, stderr),
			healthCommand(stdout, stderr),
			versionCommand(stdout),
		},
	}
	root.Subcommands = append(root.Subcommands, helpCommand(root, stdout))
	root.Exec = func(_ context.Context, args []string) error {
		if len(args) > 0 {
			return unknownCommand(root, args[0])
		}
		return errNoCommand
	}
	return root
}

// Stop signals become what the commands act on: the first cancels a
// context (finish what is in flight, within the grace), the second closes
// a channel (cut the grace short), and after that the signals' default
// action (ending the process) is back. The channel travels in the
// context, so that Main's signature stays (ctx, args).

// notifyShutdown returns a context canceled by the first of sigs, and a
// channel closed by the second; after that, the signals' default action
// is back. Neither ends otherwise: it is for the life of the process.
func notifyShutdown(sigs ...os.Signal) (context.Context, <-chan struct{}) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, sigs...)
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan struct{})
	go func() {
		<-ch
		cancel()
		<-ch
		close(second)
		signal.Reset(sigs...)
	}()
	return ctx, second
}

type cutShortKey struct{}

// withCutShort gives commands the channel whose closing asks them to cut
// their shutdown short (a second signal).
func withCutShort(ctx context.Context, cut <-chan struct{}) context.Context {
	return context.WithValue(ctx, cutShortKey{}, cut)
}

// cutShort is ctx's cut-short channel, nil when there is none.
func cutShort(ctx context.Context) <-chan struct{} {
	cut, _ := ctx.Value(cutShortKey{}).(<-chan struct{})
	return cut
}

// newLogger builds run's slog logger (--log-format, --log-level) on w at
// level (debug, info, warn or error) in format: text, json, or auto (text on a terminal, else
// JSON). Durations are written as Go writes them in both formats. Its
// errors name the flag and the values wanted.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: durationsAsText}
	switch format {
	case "auto":
		if isTerminal(w) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want auto, text or json", format)
}

// isTerminal says whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// durationsAsText writes durations as Go writes them (1.5s, 250ms), in
// JSON logs too, which would otherwise give nanoseconds.
func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
