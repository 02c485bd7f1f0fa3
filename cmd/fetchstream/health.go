package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/healthcheck"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/natsflags"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
)

type healthConfig struct {
	nats    natsflags.Flags
	http    string
	timeout time.Duration
}

// healthCommand is the container health check: an image without a shell
// or curl runs `fetchstream health` itself. It reads the same
// FETCHSTREAM_* environment and --config file as run (flags it does not
// know are ignored there), so inside a service's container it checks the
// NATS server that service uses.
func healthCommand(stdout, _ io.Writer) *ffcli.Command {
	var cfg healthConfig
	fs := flag.NewFlagSet("fetchstream health", flag.ContinueOnError)
	cfg.nats.Register(fs, "; empty: "+nats.DefaultURL+", where run's embedded server listens by default")
	fs.StringVar(&cfg.http, "http", "", "check this HTTP URL instead of NATS: healthy when GET answers with a status below 400")
	fs.DurationVar(&cfg.timeout, "timeout", 3*time.Second, "time allowed for the whole check")
	fs.String("config", "", "file of flags, one \"flag value\" per line (run's file works: flags health does not know are skipped)")
	return &ffcli.Command{
		Name:       "health",
		ShortUsage: "fetchstream health [--nats-url URL | --http URL] [--timeout 3s]",
		ShortHelp:  "exit 0 when NATS (or an HTTP endpoint) answers, 1 otherwise: a container health check",
		LongHelp: "Check health for a container HEALTHCHECK, where there is no shell or curl. By default,\n" +
			"connect to --nats-url and complete a PING/PONG round trip: the service cannot work\n" +
			"without its NATS server, and the process itself is alive while its container runs.\n" +
			"With --http, instead GET the URL and want a status below 400.\n" +
			"Exit status: 0 healthy, 1 not (the reason goes to standard error).",
		FlagSet: fs,
		Options: settings.Options(fs, true),
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("health takes no arguments, got %q", args)
			}
			if cfg.timeout <= 0 {
				return fmt.Errorf("--timeout must be positive, got %s", cfg.timeout)
			}
			ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
			defer cancel()
			if cfg.http != "" {
				return healthcheck.HTTP(ctx, cfg.http, stdout)
			}
			return healthcheck.NATS(ctx, &cfg.nats, stdout)
		},
	}
}
