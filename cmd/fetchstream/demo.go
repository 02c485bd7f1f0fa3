package main

import (
	"context"
	"flag"
	"io"
	"log/slog"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/demo"
)

func demoCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("fetchstream demo", flag.ContinueOnError)
	verbose := fs.Bool("v", false, "show the service's logs")
	return &ffcli.Command{
		Name:       "demo",
		ShortUsage: "fetchstream demo",
		ShortHelp:  "run the seed scenario offline: embedded NATS, a local target, four URLs",
		LongHelp: "Start an embedded NATS server, a local httpbin target and the service, send one\n" +
			"batch through the Go client, wire/client (delays of 1, 2 and 3 seconds and a 404), and print the\n" +
			"ordered results with the wall time next to what fetching one by one would take.",
		FlagSet: fs,
		Exec: func(ctx context.Context, _ []string) error {
			logOut := io.Discard
			if *verbose {
				logOut = stderr
			}
			return demo.Run(ctx, stdout, slog.New(slog.NewTextHandler(logOut, nil)))
		},
	}
}
