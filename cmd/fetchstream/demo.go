package main

// The commands that try fetchstream offline: demo (the seed scenario, on
// an embedded NATS server, the local target and the service) and target
// (the local target alone).

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/throwaway"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
	"github.com/fetchstream/fetchstream/wire/client"
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
			return runDemo(ctx, stdout, slog.New(slog.NewTextHandler(logOut, nil)))
		},
	}
}

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
			return throwaway.Serve(ctx, ln, throwaway.Target(*maxDelay))
		},
	}
}

// runDemo shows the seed scenario on stdout: it starts a throwaway NATS
// server, an httpbin target on loopback and the service (logging to
// log), gathers four URLs through the Go client (delays of 1, 2 and 3
// seconds and a 404), prints them in order with the wall time beside the
// sum of their times and the last result's JSON, and stops all it
// started before it returns. Canceling ctx ends it early.
func runDemo(ctx context.Context, stdout io.Writer, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	natsURL, stopNATS, err := throwaway.NATS("demo")
	if err != nil {
		return err
	}
	defer stopNATS()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = throwaway.Serve(ctx, ln, throwaway.Target(10*time.Second)) }()

	cfg := service.Defaults()
	cfg.NATS.URL = natsURL
	cfg.Fetch.AllowNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} // the local target only
	svc, err := service.New(cfg, log)
	if err != nil {
		return err
	}
	stopped := make(chan error, 1)
	go func() { stopped <- svc.Run(ctx) }()
	defer func() { cancel(); <-stopped }()
	select {
	case <-svc.Running():
	case err := <-stopped:
		return fmt.Errorf("the service did not start: %w", err)
	}
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	c, err := client.New(nc, client.WithSubject(cfg.Subjects.In))
	if err != nil {
		return err
	}

	base := "http://" + ln.Addr().String()
	urls := []string{base + "/delay/1", base + "/delay/2", base + "/delay/3", base + "/status/404"}
	fmt.Fprintf(stdout, "NATS %s, target %s, concurrency %d\ngather %d URLs on %s through the Go client (wire/client)\n\n",
		natsURL, base, cfg.Fetch.Concurrency, len(urls), cfg.Subjects.In)
	start := time.Now()
	gathered, err := c.Gather(ctx, urls)
	if err != nil {
		return fmt.Errorf("gather: %w", err)
	}
	wall := time.Since(start)
	table := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(table, "#\tSTATUS\tERROR\tMS\tURL")
	var sequential float64
	for i, r := range gathered.Results {
		sequential += r.ElapsedMS
		fmt.Fprintf(table, "%d\t%s\t%s\t%.0f\t%s\n", i, statusColumn(r.Status), r.Error, r.ElapsedMS, r.URL)
	}
	table.Flush()
	fmt.Fprintf(stdout, "\nwall time %.2fs for %d URLs; one at a time they would take %.2fs\n",
		wall.Seconds(), len(urls), sequential/1000)
	last, _ := json.Marshal(gathered.Results[len(urls)-1])
	fmt.Fprintf(stdout, "each result is a JSON message on %s; the last one, the 404:\n%s\n", cfg.Subjects.Out, last)
	return nil
}
