package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
)

type healthConfig struct {
	nats    natsFlags
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
	cfg.nats.register(fs, "; empty: "+nats.DefaultURL+", where run's embedded server listens by default")
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
				return checkHTTP(ctx, cfg.http, stdout)
			}
			return checkNATS(ctx, &cfg.nats, stdout)
		},
	}
}

// errUnhealthy is wrapped by every failed health check.
var errUnhealthy = errors.New("unhealthy")

// checkNATS connects as the connection flags say (credentials, TLS; the URL
// nats.DefaultURL when empty) and completes a PING/PONG round trip before
// ctx ends (ctx must have a deadline), saying so on stdout. What it
// prints and returns names the server without its password.
func checkNATS(ctx context.Context, flags *natsFlags, stdout io.Writer) error {
	deadline, _ := ctx.Deadline()
	nc, err := flags.connect(nats.DefaultURL, "fetchstream health", nats.Timeout(time.Until(deadline)), nats.NoReconnect())
	if err != nil {
		return fmt.Errorf("%w: %v", errUnhealthy, err) // connect's error redacts the URL
	}
	defer nc.Close()
	start := time.Now()
	if err := nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("%w: NATS at %s did not answer a PING: %v", errUnhealthy, nc.ConnectedUrlRedacted(), err)
	}
	fmt.Fprintf(stdout, "ok: NATS at %s answered in %s\n", nc.ConnectedUrlRedacted(), time.Since(start).Round(time.Microsecond))
	return nil
}

// checkHTTP GETs url and wants a status below 400 before ctx ends, saying so
// on stdout; it reads at most 64 KiB of the body.
func checkHTTP(ctx context.Context, url string, stdout io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("--http %q: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errUnhealthy, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("%w: GET %s answered %s", errUnhealthy, url, resp.Status)
	}
	fmt.Fprintf(stdout, "ok: GET %s answered %s\n", url, resp.Status)
	return nil
}
