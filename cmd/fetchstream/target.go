package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/target"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
)

func targetCommand(stdout, _ io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("fetchstream target", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to serve on")
	maxDelay := fs.Duration("max-delay", time.Minute, "longest /delay/N served")
	return &ffcli.Command{
		Name:       "target",
		ShortUsage: "fetchstream target [--addr 127.0.0.1:8080]",
		ShortHelp:  "serve httpbin endpoints (/delay/N, /status/CODE, /get, ...) to fetch locally",
		LongHelp: "Serve go-httpbin, a local target for trying fetchstream without the internet:\n" +
			"/delay/2 answers after 2 s, /status/404 answers 404, /get echoes the request,\n" +
			"/redirect/3 redirects three times, /drip trickles a body.",
		FlagSet: fs,
		Options: settings.Options(fs, false),
		Exec: func(ctx context.Context, _ []string) error {
			ln, err := net.Listen("tcp", *addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "target serving httpbin on http://%s (try /delay/1, /status/404)\n", ln.Addr())
			return target.Serve(ctx, ln, target.Handler(*maxDelay))
		},
	}
}
