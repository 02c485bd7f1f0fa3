package main

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

	"github.com/fetchstream/fetchstream/stages/httpfetch"
	"github.com/fetchstream/fetchstream/wire"
)

func demoCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("fetchstream demo", flag.ContinueOnError)
	verbose := fs.Bool("v", false, "show the service's logs")
	return &ffcli.Command{
		Name:       "demo",
		ShortUsage: "fetchstream demo",
		ShortHelp:  "run the seed scenario offline: embedded NATS, a local target, four URLs",
		LongHelp: "Start an embedded NATS server, a local httpbin target and the service, send one\n" +
			"batch by request-reply (delays of 1, 2 and 3 seconds and a 404), and print the\n" +
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

func runDemo(ctx context.Context, stdout io.Writer, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	natsURL, stopNATS, err := startThrowawayNATS("demo")
	if err != nil {
		return err
	}
	defer stopNATS()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = serveUntilDone(ctx, ln, newTarget(10*time.Second)) }()

	cfg := defaultRunConfig()
	cfg.allowNets = prefixList{netip.MustParsePrefix("127.0.0.0/8")} // the local target only
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	fetcher, err := httpfetch.New(cfg.fetcherConfig())
	if err != nil {
		return err
	}
	defer fetcher.Close()
	p, err := startPipeline(ctx, ctx, nc, fetcher, cfg, log, newMetrics())
	if err != nil {
		return err
	}
	defer func() { cancel(); <-p.done }()

	base := "http://" + ln.Addr().String()
	batch := wire.Batch{ID: "demo", URLs: wire.URLs(base+"/delay/1", base+"/delay/2", base+"/delay/3", base+"/status/404")}
	data, _ := json.Marshal(batch)
	fmt.Fprintf(stdout, "NATS %s, target %s, concurrency %d\nrequest %s %s\n\n", natsURL, base, cfg.concurrency, cfg.subjects.in, data)
	start := time.Now()
	reply, err := nc.RequestWithContext(ctx, cfg.subjects.in, data)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	wall := time.Since(start)
	var results []wire.Result
	if err := json.Unmarshal(reply.Data, &results); err != nil {
		return fmt.Errorf("reply %s: %w", reply.Data, err)
	}
	table := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(table, "#\tSTATUS\tERROR\tMS\tURL")
	var sequential float64
	for _, r := range results {
		sequential += r.ElapsedMS
		fmt.Fprintf(table, "%d\t%s\t%s\t%.0f\t%s\n", r.Index, statusText(r.Status), r.Error, r.ElapsedMS, r.URL)
	}
	table.Flush()
	fmt.Fprintf(stdout, "\nwall time %.2fs for %d URLs; one at a time they would take %.2fs\n",
		wall.Seconds(), len(results), sequential/1000)
	fmt.Fprintf(stdout, "the reply is the JSON array of these results; its last one, the 404:\n%s\n", lastElement(reply.Data))
	return nil
}

// lastElement is the last element of a JSON array, as it was written.
func lastElement(array []byte) []byte {
	var elements []json.RawMessage
	if json.Unmarshal(array, &elements) != nil || len(elements) == 0 {
		return array
	}
	return elements[len(elements)-1]
}

// defaultRunConfig is runConfig with every flag at its default.
func defaultRunConfig() *runConfig {
	var cfg runConfig
	fs := flag.NewFlagSet("defaults", flag.ContinueOnError)
	cfg.register(fs)
	_ = fs.Parse(nil)
	return &cfg
}
