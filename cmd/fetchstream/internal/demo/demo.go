// Package demo is fetchstream demo: the seed scenario (four URLs, one a
// 404, fetched at once and returned in order) run offline, through the
// same service and Go client as production.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/resulttable"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/target"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/throwaway"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
	"github.com/fetchstream/fetchstream/wire/client"
)

// Run shows the seed scenario on stdout: it starts a throwaway NATS
// server, an httpbin target on loopback and the service (logging to
// log), gathers four URLs through the Go client (delays of 1, 2 and 3
// seconds and a 404), prints them in order with the wall time beside the
// sum of their times and the last result's JSON, and stops all it
// started before it returns. Canceling ctx ends it early.
func Run(ctx context.Context, stdout io.Writer, log *slog.Logger) error {
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
	go func() { _ = target.Serve(ctx, ln, target.Handler(10*time.Second)) }()

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
		fmt.Fprintf(table, "%d\t%s\t%s\t%.0f\t%s\n", i, resulttable.Status(r.Status), r.Error, r.ElapsedMS, r.URL)
	}
	table.Flush()
	fmt.Fprintf(stdout, "\nwall time %.2fs for %d URLs; one at a time they would take %.2fs\n",
		wall.Seconds(), len(urls), sequential/1000)
	last, _ := json.Marshal(gathered.Results[len(urls)-1])
	fmt.Fprintf(stdout, "each result is a JSON message on %s; the last one, the 404:\n%s\n", cfg.Subjects.Out, last)
	return nil
}
